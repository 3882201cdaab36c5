"""All gates on one batch: which generated portraits pass, and why the others do not."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from generator.gates.classifiers import DisorderClassifier, load_disorder_classifier, target_ranks
from generator.gates.face import DEFAULT_FACE_THRESHOLD, FaceDetector, face_passes
from generator.gates.privacy import (
    DEFAULT_PERCENTILE,
    PrivacyReference,
    build_reference,
    load_split,
    shift_tolerant_nearest,
)

GATE_NAMES = ("face", "disorder", "privacy")
# why a portrait was kept out, as fill_pool prints it
REASONS = {
    "face": "no face (detector confidence below threshold)",
    "disorder": "disorder not in the classifier's top k",
    "privacy": "near-copy of a training portrait",
}
_MODELS = Path(__file__).resolve().parents[2] / "fixtures" / "models"
# the GestaltLoss's classifier: the bundled generator was trained to satisfy it
BUNDLED_CLASSIFIER = _MODELS / "classifier-demo64.safetensors"
# the phantom judge: trained on other phantom individuals, never used in training the generator,
# so a generator cannot pass the gates by having learned to please it; the gates' default
BUNDLED_JUDGE = _MODELS / "judge-demo64.safetensors"
BUNDLED_FACE_CHECK = _MODELS / "facecheck-demo64.safetensors"


@dataclass
class GateResults:
    """Per-image outcomes of one batch (CPU tensors); None where a gate did not run."""

    n: int  # images in the batch
    face_confidence: torch.Tensor | None  # [N] in [0, 1]
    rank: torch.Tensor | None  # [N] 1-based rank of the requested disorder
    distance: torch.Tensor | None  # [N] nearest-training distance in the embedding
    nearest: torch.Tensor | None  # [N] index of that training portrait
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
    face_threshold: float = DEFAULT_FACE_THRESHOLD
    top_k: int = 5
    disorder_gate: bool = True  # False: ranks are still reported, nothing is rejected for them

    def __post_init__(self) -> None:
        if self.privacy is not None and self.classifier is None:
            raise ValueError("the privacy gate embeds images with the classifier: give one")
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")

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
            results.passed["face"] = face_passes(results.face_confidence, self.face_threshold)
        if self.classifier is None:
            return results
        x = images.float().to(self.classifier.device)
        if disorder in self.classifier.disorders:
            logits = self.classifier.logits(x).float()
            results.rank = target_ranks(logits, self.classifier.disorders.index(disorder)).cpu()
            if self.disorder_gate:
                results.passed["disorder"] = results.rank <= self.top_k
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
    skip: frozenset[str] = frozenset(),
    face_threshold: float = DEFAULT_FACE_THRESHOLD,
    top_k: int = 5,
    privacy_percentile: float = DEFAULT_PERCENTILE,
) -> tuple[GateSet, list[str]]:
    """The gates a command asked for, with bundled phantom models as defaults for a phantom
    checkpoint; returns the set and one line per gate saying what runs or why it does not."""
    unknown = set(skip) - set(GATE_NAMES)
    if unknown:
        raise ValueError(f"unknown gates to skip {sorted(unknown)}; choose from {GATE_NAMES}")
    phantom = is_phantom_model(disorders)
    notes: list[str] = []
    face = None
    if "face" in skip or face_detector == "none":
        notes.append("face gate: off")
    elif face_detector == "mtcnn":
        from generator.gates.face import MTCNNFaceDetector

        face = MTCNNFaceDetector(device)
        notes.append(f"face gate: MTCNN {face.params}, threshold {face_threshold}")
    elif face_detector in ("auto", "phantom") and (phantom or face_detector == "phantom"):
        from generator.gates.facecheck import load_face_check

        face = load_face_check(BUNDLED_FACE_CHECK, device)
        notes.append(
            f"face gate: phantom face check {face.checkpoint_id}, threshold {face_threshold}"
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
    if clf is None:
        notes.append("disorder gate: off (no classifier; pass --classifier)")
    elif "disorder" in skip:
        notes.append(f"disorder gate: off (ranks still reported by {clf.name})")
    else:
        notes.append(f"disorder gate: requested disorder in the top {top_k} of {clf.name}")

    reference = None
    if "privacy" in skip:
        notes.append("privacy gate: off")
    elif clf is None or training_data is None:
        notes.append(
            "privacy gate: off (needs a classifier and --training-data with held-out rows)"
        )
    else:
        train, names, heldout = load_split(training_data, resolution)
        reference = build_reference(clf, train, heldout, privacy_percentile, names)
        notes.append(
            f"privacy gate: flag nearest-training distance < {reference.threshold:.4f} ("
            f"percentile {privacy_percentile:g} of {len(heldout)} held-out real portraits; "
            f"{len(train)} training portraits)"
        )
    gates = GateSet(
        face, clf, reference, face_threshold, top_k, disorder_gate="disorder" not in skip
    )
    return gates, notes
