"""Face detectors behind one interface: a confidence per image, and the threshold that gates it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image

from generator.layers import check_shape

DEFAULT_FACE_THRESHOLD = 0.999  # the paper's fail-case rule: detector confidence below 99.9 %


@runtime_checkable
class FaceDetector(Protocol):
    """Input contract: float RGB images [N, 3, H, W] in [-1, 1], any device.
    Output: [N] float on the CPU, the confidence in [0, 1] that the image shows a face
    (0 where the detector finds none)."""

    name: str

    def confidence(self, images: torch.Tensor) -> torch.Tensor: ...


def face_passes(
    confidence: torch.Tensor, threshold: float = DEFAULT_FACE_THRESHOLD
) -> torch.Tensor:
    """Boolean [N]: a fail-case is a confidence strictly below the threshold."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"face threshold must lie in [0, 1], got {threshold}")
    return confidence >= threshold


@dataclass(frozen=True)
class MTCNNParams:
    """Fixed MTCNN settings: the score depends on them (a smaller minimum face finds more boxes),
    so every evaluation uses the same ones and reports them."""

    detect_size: int = 256  # images are resized to this side before detection
    min_face_size: int = 40  # pixels at detect_size; portraits fill most of the frame
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)  # P-, R-, O-Net stage thresholds
    factor: float = 0.709  # image pyramid scale step


class MTCNNFaceDetector:
    """MTCNN from facenet-pytorch (optional extra, see "Gates and GAN inversion" in README.md): the
    probability of its most confident box. Its wheel ships the P/R/O-Net weights, so nothing is downloaded."""

    name = "mtcnn"

    def __init__(
        self, device: torch.device | str = "cpu", params: MTCNNParams | None = None
    ) -> None:
        try:  # lazy: facenet-pytorch needs torchvision, which the core stack does not
            from facenet_pytorch import MTCNN
        except ImportError as error:
            raise ImportError(
                f"the MTCNN face detector needs facenet-pytorch and torchvision ({error}); install "
                "them without touching torch: see 'Gates and GAN inversion' in README.md"
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
