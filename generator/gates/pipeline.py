"""All gates on one batch: which generated portraits pass, and why the others do not."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from generator.bundled import model_path
from generator.gates.classifiers import DisorderClassifier, load_disorder_classifier, target_ranks
from generator.gates.face import FaceCalibration, FaceDetector, calibrate, detector_id, face_passes
from generator.gates.privacy import (
    PrivacyReference,
    build_reference,
    load_split,
    shift_tolerant_nearest,
)
from generator.gates.settings import DEFAULTS, GateSettings

GATE_NAMES = ("face", "disorder", "privacy")
# why a portrait was kept out, as fill_pool prints it
REASONS = {
    "face": "no face (detector confidence below threshold)",
    "disorder": "disorder not in the classifier's top k",
    "privacy": "near-copy of a training portrait",
}
# the GestaltLoss's classifier: the bundled generator was trained to satisfy it
BUNDLED_CLASSIFIER = model_path("classifier-demo64.safetensors")
# the phantom judge: trained on other phantom individuals, never used in training the generator,
# so a generator cannot pass the gates by having learned to please it; the gates' default
BUNDLED_JUDGE = model_path("judge-demo64.safetensors")
BUNDLED_FACE_CHECK = model_path("facecheck-demo64.safetensors")
# the face check's scores on 450 real phantoms no model has seen (fixtures/models/reproduce.sh)
BUNDLED_FACE_CALIBRATION = model_path("facecheck-demo64.calibration.json")


@dataclass
class GateResults:
    """Per-image outcomes of one batch (CPU tensors); None where a gate did not run."""

    n: int  # images in the batch
    face_confidence: torch.Tensor | None  # [N] in [0, 1]
    rank: torch.Tensor | None  # [N] 1-based rank of the requested disorder
    distance: torch.Tensor | None  # [N] nearest-training distance in the embedding
    nearest: torch.Tensor | None  # [N] index of that training portrait
    logits: torch.Tensor | None = None  # [N, C] the classifier's, for the false-pass rate
    passed: dict[str, torch.Tensor] = field(default_factory=dict)  # gate -> bool [N]

    @property
    def all_passed(self) -> torch.Tensor:
        out = torch.ones(self.n, dtype=torch.bool)
        for ok in self.passed.values():
            out &= ok
        return out

    def failed_gates(self, i: int) -> list[str]:
        return [name for name, ok in self.passed.items() if not bool(ok[i])]


@dataclass
class GateSet:
    """The gates in force; a None member is a gate that is off."""

    face: FaceDetector | None = None
    classifier: DisorderClassifier | None = None  # the disorder gate; also embeds for privacy
    privacy: PrivacyReference | None = None  # needs `classifier`
    face_threshold: float | None = None  # needed with `face`: calibrated, see build_gates
    top_k: int | None = None  # None: derived from the classifier's classes by `settings`
    disorder_gate: bool = True  # False: ranks are still reported, nothing is rejected for them
    settings: GateSettings = DEFAULTS  # tolerances and derivations (brightness, chance pass)
    face_calibration: FaceCalibration | None = None  # real portraits' scores, when calibrated

    def __post_init__(self) -> None:
        if self.privacy is not None and self.classifier is None:
            raise ValueError("the privacy gate embeds images with the classifier: give one")
        if self.face is not None and self.face_threshold is None:
            raise ValueError("the face gate needs a threshold calibrated on real portraits")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")

    @property
    def k(self) -> int:
        """The disorder gate's k for this classifier (the requested disorder in its top k)."""
        if self.classifier is None:
            raise ValueError("no classifier: the disorder gate is off")
        classes = len(self.classifier.disorders)
        return min(self.top_k, classes) if self.top_k else self.settings.top_k_for(classes)

    @property
    def chance_pass(self) -> float:
        """The disorder gate's false-pass rate for a portrait without any disorder signal."""
        assert self.classifier is not None
        return self.k / len(self.classifier.disorders)

    @property
    def active(self) -> list[str]:
        on = {
            "face": self.face is not None,
            "disorder": self.classifier is not None and self.disorder_gate,
            "privacy": self.privacy is not None,
        }
        return [g for g in GATE_NAMES if on[g]]

    @torch.inference_mode()
    def check(self, images: torch.Tensor, disorder: str) -> GateResults:
        """images: float [N, 3, H, W] in [-1, 1], as the generator makes them."""
        results = GateResults(len(images), None, None, None, None)
        if self.face is not None:
            results.face_confidence = self.face.confidence(images).float().cpu()
            assert self.face_threshold is not None  # __post_init__
            results.passed["face"] = face_passes(results.face_confidence, self.face_threshold)
        if self.classifier is None:
            return results
        x = images.float().to(self.classifier.device)
        if disorder in self.classifier.disorders:
            logits = self.classifier.logits(x).float()
            results.logits = logits.cpu()
            results.rank = target_ranks(logits, self.classifier.disorders.index(disorder)).cpu()
            if self.disorder_gate:
                results.passed["disorder"] = results.rank <= self.k
        if self.privacy is not None:
            results.distance, results.nearest = shift_tolerant_nearest(
                self.classifier, x, self.privacy.train_embeddings, self.privacy.shift_radius
            )
            results.passed["privacy"] = results.distance >= self.privacy.threshold
        return results


def is_phantom_model(disorders: list[str]) -> bool:
    """A checkpoint trained on phantoms only: the bundled phantom models can judge it."""
    import phantoms

    return set(disorders) <= set(phantoms.class_codes())


def build_gates(
    disorders: list[str],
    resolution: int,
    device: torch.device,
    *,
    classifier: Path | None = None,
    face_detector: str = "auto",
    training_data: Path | None = None,
    face_calibration: Path | None = None,
    skip: frozenset[str] = frozenset(),
    settings: GateSettings = DEFAULTS,
) -> tuple[GateSet, list[str]]:
    """The gates a command asked for, with bundled phantom models as defaults for a phantom
    checkpoint; returns the set and one line per gate saying what runs or why it does not.

    `face_calibration`: a folder of real portraits (manifest.csv) or a calibration JSON; without
    it the bundled face check uses its stored calibration, and MTCNN needs one (or a fixed
    `settings.face_threshold`)."""
    unknown = set(skip) - set(GATE_NAMES)
    if unknown:
        raise ValueError(f"unknown gates to skip {sorted(unknown)}; choose from {GATE_NAMES}")
    phantom = is_phantom_model(disorders)
    notes: list[str] = []
    face: FaceDetector | None = None
    face_threshold: float | None = None
    calibration: FaceCalibration | None = None
    if "face" in skip or face_detector == "none":
        notes.append("face gate: off")
    elif face_detector == "mtcnn":
        from generator.gates.face import MTCNNFaceDetector

        face = mtcnn = MTCNNFaceDetector(device)
        face_threshold, calibration, how = _face_threshold(mtcnn, face_calibration, None, resolution, settings)
        notes.append(f"face gate: MTCNN {mtcnn.params}, threshold {face_threshold:.6f} ({how})")
    elif face_detector in ("auto", "phantom") and (phantom or face_detector == "phantom"):
        from generator.gates.facecheck import load_face_check

        face = face_check = load_face_check(BUNDLED_FACE_CHECK, device)
        face_threshold, calibration, how = _face_threshold(
            face_check, face_calibration, BUNDLED_FACE_CALIBRATION, resolution, settings
        )
        notes.append(
            f"face gate: phantom face check {face_check.checkpoint_id}, threshold {face_threshold:.6f} ({how})"
        )
    elif face_detector == "auto":
        notes.append("face gate: off (not a phantom checkpoint; pass --face-detector mtcnn)")
    else:
        raise ValueError(f"face detector {face_detector!r}: choose auto, phantom, mtcnn or none")

    clf = None
    wants_clf = not ({"disorder", "privacy"} <= set(skip))
    if wants_clf and classifier is not None:
        clf = load_disorder_classifier(classifier, device)
    elif wants_clf and phantom:
        clf = load_disorder_classifier(BUNDLED_JUDGE, device)
    gates = GateSet(
        face,
        clf,
        None,
        face_threshold,
        settings.top_k,
        disorder_gate="disorder" not in skip,
        settings=settings,
        face_calibration=calibration,
    )
    if clf is None:
        notes.append("disorder gate: off (no classifier; pass --classifier)")
    elif "disorder" in skip:
        notes.append(f"disorder gate: off (ranks still reported by {clf.name})")
    else:
        notes.append(disorder_gate_line(gates))

    if "privacy" in skip:
        notes.append("privacy gate: off")
    elif clf is None or training_data is None:
        notes.append("privacy gate: off (needs a classifier and --training-data with held-out rows)")
    else:
        train, names, heldout = load_split(training_data, resolution)
        gates.privacy = build_reference(clf, train, heldout, settings.privacy_percentile, names)
        notes.append(
            f"privacy gate: flag nearest-training distance < {gates.privacy.threshold:.4f} ("
            f"percentile {settings.privacy_percentile:g} of {len(heldout)} held-out real "
            f"portraits; {len(train)} training portraits)"
        )
    return gates, notes


def disorder_gate_line(gates: GateSet) -> str:
    assert gates.classifier is not None
    classes = len(gates.classifier.disorders)
    line = (
        f"disorder gate: requested disorder in the top {gates.k} of {classes} classes of "
        f"{gates.classifier.name}; false-pass rate at chance {gates.k}/{classes} = "
        f"{gates.chance_pass:.3f}"
    )
    if gates.chance_pass > gates.settings.max_chance_pass:
        line += f" (above {gates.settings.max_chance_pass:g}: too few classes for a top-k gate)"
    return line


def _face_threshold(
    detector: FaceDetector,
    given: Path | None,
    stored: Path | None,
    resolution: int,
    settings: GateSettings,
) -> tuple[float, FaceCalibration | None, str]:
    """(threshold, calibration, where it came from): a fixed one in settings, else the percentile of real
    portraits' scores from `given` (folder or JSON), else from the detector's stored calibration."""
    if settings.face_threshold is not None:
        return settings.face_threshold, None, "fixed by --face-threshold, not calibrated"
    percentile = settings.face_calibration_percentile
    if given is not None and Path(given).is_dir():
        from generator.training.data import load_image_set

        real = load_image_set(Path(given), resolution, training_only=False)
        calibration = calibrate(detector, real.images, f"real portraits in {given}")
    elif given is not None:
        calibration = FaceCalibration.load(Path(given))
    elif stored is not None:
        calibration = FaceCalibration.load(stored)
    else:
        raise ValueError(
            f"the {detector.name} face gate has no calibration: pass --face-calibration with a "
            "folder of real portraits (manifest.csv) or a calibration JSON, or a fixed "
            "--face-threshold"
        )
    if calibration.detector_id != detector_id(detector):
        raise ValueError(
            f"face calibration for {calibration.detector} {calibration.detector_id}, but the face "
            f"gate runs {detector.name} {detector_id(detector)}: calibrate it again"
        )
    threshold = calibration.threshold(percentile)
    return (
        threshold,
        calibration,
        (f"percentile {percentile:g} of the scores of {len(calibration.scores)} {calibration.source}"),
    )
