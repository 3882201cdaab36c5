"""The gates: thresholds, the detector and classifier interfaces, planted near-copies caught."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import phantoms
from generator import api
from generator.gates.classifiers import (
    DisorderClassifier,
    TorchScriptDisorderClassifier,
    load_disorder_classifier,
    target_ranks,
)
from generator.gates.face import FaceCalibration, FaceDetector, MTCNNFaceDetector, face_passes
from generator.gates.facecheck import load_face_check, non_faces
from generator.gates.pipeline import (
    BUNDLED_CLASSIFIER,
    BUNDLED_FACE_CALIBRATION,
    BUNDLED_FACE_CHECK,
    GateSet,
    build_gates,
)
from generator.gates.privacy import build_reference, nearest_training, threshold_at
from generator.inference.sampling import generate_batch
from generator.nets.model import load_generator
from generator.training.data import to_float

BUNDLED_GENERATOR = BUNDLED_CLASSIFIER.parent / "generator-demo64.safetensors"


def _phantoms(codes: list[str], individuals: range, size: int = 64) -> torch.Tensor:
    arrays = [np.asarray(phantoms.render_portrait(c, individual=i, size=size)) for c in codes for i in individuals]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def test_it_fails_a_confidence_just_below_the_threshold():
    conf = torch.tensor([0.9989, 0.999, 1.0, 0.0])
    assert face_passes(conf, threshold=0.999).tolist() == [False, True, True, False]
    assert face_passes(conf, threshold=0.5).tolist() == [True, True, True, False]
    with pytest.raises(ValueError, match="threshold"):
        face_passes(conf, threshold=1.5)


def test_the_phantom_face_check_passes_phantoms_and_fails_non_faces():
    detector = load_face_check(BUNDLED_FACE_CHECK)
    assert isinstance(detector, FaceDetector)
    faces = to_float(_phantoms(["velmar", "dravik", "unaffected"], range(1001, 1005)))
    others = non_faces(faces, torch.Generator().manual_seed(1))
    # at the threshold its stored calibration on real phantoms gives
    threshold = FaceCalibration.load(BUNDLED_FACE_CALIBRATION).threshold(1.0)
    assert face_passes(detector.confidence(faces), threshold).float().mean() >= 0.8
    assert not face_passes(detector.confidence(others), threshold).any()


def test_the_mtcnn_adapter_uses_fixed_parameters_and_its_best_box(monkeypatch):
    """facenet-pytorch is an optional extra, not installed here: a stand-in records the calls."""
    calls = {}

    class FakeMTCNN:
        def __init__(self, **kwargs):
            calls["init"] = kwargs

        def detect(self, images):
            calls["sizes"] = [im.size for im in images]
            return None, [np.array([0.2, 0.99995]), [None]]  # facenet-pytorch 2.6: [None] = no face

    monkeypatch.setitem(sys.modules, "facenet_pytorch", types.SimpleNamespace(MTCNN=FakeMTCNN))
    detector = MTCNNFaceDetector()
    conf = detector.confidence(torch.zeros(2, 3, 64, 64))
    assert conf.tolist() == pytest.approx([0.99995, 0.0])
    assert calls["init"]["min_face_size"] == 40 and calls["init"]["thresholds"] == [0.6, 0.7, 0.7]
    assert calls["sizes"] == [(256, 256), (256, 256)]
    assert face_passes(conf, 0.999).tolist() == [True, False]


def test_without_facenet_pytorch_mtcnn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    with pytest.raises(ImportError, match="Gates and GAN inversion"):
        MTCNNFaceDetector()


def test_target_rank_is_one_based_and_ties_favour_the_target():
    logits = torch.tensor([[3.0, 1.0, 2.0], [1.0, 1.0, 0.0], [0.0, 5.0, 4.0]])
    assert target_ranks(logits, 2).tolist() == [2, 3, 2]
    assert target_ranks(logits, 0).tolist() == [1, 1, 3]


class _Scripted(torch.nn.Module):
    """A study's own classifier as its TorchScript contract asks (disorders is inferred List[str])."""

    def __init__(self) -> None:
        super().__init__()
        self.disorders = ["alpha", "beta"]
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(2, 3))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_torchscript_classifier_with_its_contract_is_accepted(tmp_path: Path):
    path = tmp_path / "clf.pt"
    torch.jit.script(_Scripted()).save(str(path))
    clf = load_disorder_classifier(path)
    assert isinstance(clf, TorchScriptDisorderClassifier) and isinstance(clf, DisorderClassifier)
    x = torch.rand(5, 3, 16, 16) * 2 - 1
    assert clf.disorders == ["alpha", "beta"]
    assert clf.logits(x).shape == (5, 2)
    assert torch.allclose(clf.embed(x).norm(dim=1), torch.ones(5))
    gates = GateSet(classifier=clf, top_k=1)
    result = gates.check(x, "alpha")
    assert result.rank is not None and result.passed["disorder"].tolist() == (result.rank == 1).tolist()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_torchscript_module_without_disorders_is_refused(tmp_path: Path):
    path = tmp_path / "bare.pt"
    torch.jit.script(torch.nn.Conv2d(3, 2, 1)).save(str(path))
    with pytest.raises(ValueError, match="disorders"):
        load_disorder_classifier(path)


def test_the_threshold_is_the_percentile_of_held_out_distances():
    d = torch.arange(1, 101, dtype=torch.float32)
    assert threshold_at(d, 0.0) == 1.0 and threshold_at(d, 100.0) == 100.0
    assert threshold_at(d, 50.0) == pytest.approx(50.5)
    with pytest.raises(ValueError):
        threshold_at(d, 101.0)


def test_nearest_training_is_exact_across_chunks():
    g = torch.Generator().manual_seed(0)
    train, queries = torch.randn(50, 8, generator=g), torch.randn(30, 8, generator=g)
    dist, idx = nearest_training(queries, train, chunk=7)
    full = torch.cdist(queries, train).min(dim=1)
    assert torch.equal(idx, full.indices) and torch.allclose(dist, full.values)


def test_planted_near_copies_of_training_portraits_are_caught():
    codes = ["velmar", "quellan", "unaffected"]
    train = _phantoms(codes, range(0, 40, 2))  # 60 "training" portraits
    heldout = _phantoms(codes, range(1, 40, 2))  # 60 other individuals
    clf = load_disorder_classifier(BUNDLED_CLASSIFIER)
    reference = build_reference(clf, train, heldout, percentile=1.0)
    gates = GateSet(classifier=clf, privacy=reference, disorder_gate=False)

    g = torch.Generator().manual_seed(0)
    picks = torch.tensor([0, 13, 27, 41, 59])
    copies = to_float(train[picks]) + torch.randn(5, 3, 64, 64, generator=g) * 0.03  # slight noise
    copies[2:4] = copies[2:4].roll(1, dims=3)  # jittered by a pixel
    copies[4:] = copies[4:].roll((2, -1), dims=(2, 3))  # and by two down, one left
    model = load_generator(BUNDLED_GENERATOR, device="cpu")
    generated = generate_batch(model, model.label_of("velmar"), list(range(40)), 1.0).float()
    result = gates.check(torch.cat([generated, copies.clamp(-1, 1)]), "velmar")

    caught = ~result.passed["privacy"]
    assert caught[40:].all(), result.distance[40:]
    assert torch.equal(result.nearest[40:], picks)
    assert caught[:40].float().mean() <= 0.1  # ordinary samples mostly pass


def test_gate_results_say_which_gates_failed():
    class Always:
        name = "stub"

        def __init__(self, value: float) -> None:
            self.value = value

        def confidence(self, images: torch.Tensor) -> torch.Tensor:
            return torch.tensor([self.value, 1.0])[: len(images)]

    result = GateSet(face=Always(0.5), face_threshold=0.9).check(torch.zeros(2, 3, 8, 8), "x")
    assert result.all_passed.tolist() == [False, True]
    assert result.failed_gates(0) == ["face"] and result.failed_gates(1) == []


def test_privacy_without_a_classifier_is_refused():
    from generator.gates.privacy import PrivacyReference

    ref = PrivacyReference(torch.zeros(1, 2), ["a"], torch.ones(1), 1.0, 1.0)
    with pytest.raises(ValueError, match="classifier"):
        GateSet(privacy=ref)


def test_bundled_gates_default_on_for_phantom_disorders_only():
    gates, notes = build_gates(["velmar", "unaffected"], 64, torch.device("cpu"))
    assert gates.active == ["face", "disorder"]
    assert any("privacy gate: off" in n for n in notes)
    gates, _ = build_gates(["alpha", "beta"], 16, torch.device("cpu"))
    assert gates.active == []
    gates, _ = build_gates(["velmar"], 64, torch.device("cpu"), skip=frozenset({"face"}))
    assert gates.active == ["disorder"]
    with pytest.raises(ValueError, match="unknown gates"):
        build_gates(["velmar"], 64, torch.device("cpu"), skip=frozenset({"faces"}))


def test_gated_samples_skip_rejected_seeds_and_count_why(tiny_model):
    class OddSeedsAreNotFaces:
        """Generated images of odd seeds fail: recognised by the order within each batch."""

        name = "stub"

        def __init__(self) -> None:
            self.seen = 0

        def confidence(self, images: torch.Tensor) -> torch.Tensor:
            seeds = torch.arange(self.seen, self.seen + len(images))
            self.seen += len(images)
            return (seeds % 2 == 0).float()

    out = api.gated_samples(
        tiny_model,
        GateSet(face=OddSeedsAreNotFaces(), face_threshold=0.5),
        "alpha",
        3,
        0,
        0.7,
        batch=4,
    )
    assert [info["seed"] for _, info in out.accepted] == [0, 2, 4]
    assert out.rejected == out.tried - 3 and out.reasons["face"] == out.rejected
    none = api.gated_samples(tiny_model, GateSet(face=_Never(), face_threshold=0.5), "alpha", 2, 0, 0.7, max_seeds=5)
    assert none.accepted == [] and none.tried == 5 and none.reasons["face"] == 5


class _Never:
    name = "never"

    def confidence(self, images: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(images))


def test_the_real_mtcnn_scores_a_photograph_as_a_face_and_noise_as_none():
    """Runs only where the optional extra is installed (docs/generator.md: "Gates and GAN inversion")."""
    pytest.importorskip("facenet_pytorch", exc_type=ImportError)
    data = pytest.importorskip("skimage.data")
    from generator.gates.face import MTCNNFaceDetector

    def as_input(pixels: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(pixels)).permute(2, 0, 1).float()[None] / 127.5 - 1

    face = as_input(data.astronaut()[0:260, 120:380])  # a public-domain NASA portrait
    noise = as_input(np.random.default_rng(0).integers(0, 256, (256, 256, 3), np.uint8))
    scores = MTCNNFaceDetector().confidence(torch.cat([face[:, :, :256, :256], noise]))
    assert scores[0] >= 0.999 and scores[1] == 0.0
