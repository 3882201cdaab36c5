"""Face detectors behind one interface: a confidence per image, and the threshold that gates it.

The threshold is calibrated on real portraits, per detector: the paper's 0.999 was RetinaFace's
confidence, and the same number on another detector means something else (on the phantom face
check it failed dark portraits three times as often as the middle ones). A calibration is the
detector's scores on real portraits, stored as JSON beside the detector or computed from a folder;
the threshold is their `percentile`-th percentile, so that percentile % of real portraits fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image

from generator.nets.layers import check_shape

CALIBRATION_KIND = "face-calibration"
# the paper's fail-case rule was RetinaFace's confidence below 0.999; never a default threshold here,
# only what training the face check and the MTCNN smoke check report against
PAPER_RETINAFACE_THRESHOLD = 0.999


@runtime_checkable
class FaceDetector(Protocol):
    """Input contract: float RGB images [N, 3, H, W] in [-1, 1], any device.
    Output: [N] float on the CPU, the confidence in [0, 1] that the image shows a face
    (0 where the detector finds none)."""

    name: str

    def confidence(self, images: torch.Tensor) -> torch.Tensor: ...


def face_passes(confidence: torch.Tensor, threshold: float) -> torch.Tensor:
    """Boolean [N]: a fail-case is a confidence strictly below the threshold."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"face threshold must lie in [0, 1], got {threshold}")
    return confidence >= threshold


def calibrated_threshold(real_scores: torch.Tensor | np.ndarray, percentile: float) -> float:
    """The `percentile`-th percentile of real portraits' face scores (linear interpolation):
    a threshold that about `percentile` % of real portraits fall below."""
    scores = np.asarray(real_scores, dtype=np.float64).reshape(-1)
    if scores.size == 0:
        raise ValueError("calibrating the face gate needs at least one real portrait")
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"face calibration percentile must lie in [0, 100], got {percentile}")
    return float(np.percentile(scores, percentile))


@dataclass(frozen=True)
class FaceCalibration:
    """A detector's scores on real portraits: what its threshold is computed from."""

    detector: str  # FaceDetector.name
    detector_id: str  # checkpoint id, or the detector's fixed settings
    scores: tuple[float, ...]  # one per real portrait
    source: str  # which real portraits, in words a reader can reproduce
    luma: tuple[float, ...] = ()  # each portrait's brightness (gates.brightness.luminance)

    def threshold(self, percentile: float) -> float:
        return calibrated_threshold(np.array(self.scores), percentile)

    def save(self, path: Path) -> None:
        data = {"kind": CALIBRATION_KIND, "detector": self.detector,
                "detector_id": self.detector_id, "source": self.source,
                "n": len(self.scores), "scores": list(self.scores),
                "luma": list(self.luma)}  # fmt: skip
        Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> FaceCalibration:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"face calibration {path}: cannot read it ({error})") from None
        if not isinstance(data, dict) or data.get("kind") != CALIBRATION_KIND:
            raise ValueError(f"face calibration {path}: not a face calibration file")
        return cls(str(data["detector"]), str(data["detector_id"]),
                   tuple(float(s) for s in data["scores"]), str(data["source"]),
                   tuple(float(v) for v in data.get("luma", ())))  # fmt: skip


def detector_id(detector: FaceDetector) -> str:
    """What a calibration must match: the checkpoint id, or the fixed settings of MTCNN."""
    return str(getattr(detector, "checkpoint_id", None) or getattr(detector, "params", ""))


def calibrate(detector: FaceDetector, real_images: torch.Tensor, source: str, batch: int = 256) -> FaceCalibration:
    """Score uint8 NCHW real portraits with the detector."""
    if len(real_images) == 0:
        raise ValueError(f"{source}: no real portraits to calibrate the face gate on")
    scores = [
        detector.confidence(real_images[i : i + batch].float() / 127.5 - 1).float()
        for i in range(0, len(real_images), batch)
    ]
    from generator.gates.brightness import luminance

    values = torch.cat(scores).double().tolist()
    luma = luminance(real_images.permute(0, 2, 3, 1).numpy()).tolist()
    return FaceCalibration(detector.name, detector_id(detector), tuple(values), source, tuple(luma))


@dataclass(frozen=True)
class MTCNNParams:
    """Fixed MTCNN settings: the score depends on them (a smaller minimum face finds more boxes),
    so every evaluation uses the same ones and reports them."""

    detect_size: int = 256  # images are resized to this side before detection
    min_face_size: int = 40  # pixels at detect_size; portraits fill most of the frame
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)  # P-, R-, O-Net stage thresholds
    factor: float = 0.709  # image pyramid scale step


class MTCNNFaceDetector:
    """MTCNN from facenet-pytorch (optional extra, see "Gates and GAN inversion" in docs/generator.md): the
    probability of its most confident box. Its wheel ships the P/R/O-Net weights, so nothing is downloaded."""

    name = "mtcnn"

    def __init__(self, device: torch.device | str = "cpu", params: MTCNNParams | None = None) -> None:
        try:  # lazy: facenet-pytorch needs torchvision, which the core stack does not
            from facenet_pytorch import MTCNN
        except ImportError as error:
            raise ImportError(
                f"the MTCNN face detector needs facenet-pytorch and torchvision ({error}); install "
                "them without touching torch: see 'Gates and GAN inversion' in docs/generator.md"
            ) from None
        self.params = params or MTCNNParams()
        self._mtcnn = MTCNN(
            min_face_size=self.params.min_face_size,
            thresholds=list(self.params.thresholds),
            factor=self.params.factor,
            post_process=False,
            keep_all=False,
            device=torch.device(device),
        )

    def confidence(self, images: torch.Tensor) -> torch.Tensor:
        check_shape("face detector images", images, (None, 3, None, None))
        side = self.params.detect_size
        pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        batch = [
            Image.fromarray(a).resize((side, side), Image.Resampling.BILINEAR)
            for a in pixels.permute(0, 2, 3, 1).cpu().numpy()
        ]
        _, probs = self._mtcnn.detect(batch)
        return torch.tensor([_best_probability(p) for p in probs], dtype=torch.float32)


def _best_probability(probs: object) -> float:
    """MTCNN gives None (no box) or an array of box probabilities per image."""
    if probs is None:
        return 0.0
    values = np.asarray(probs, dtype=np.float64).reshape(-1)
    values = values[~np.isnan(values)]
    return float(values.max()) if values.size else 0.0
