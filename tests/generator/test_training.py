from pathlib import Path

import pytest
import torch

from generator.nets.checkpoint import CheckpointError, load_checkpoint_file
from generator.nets.config import PRESETS, NetworkConfig, TrainConfig
from generator.nets.networks import Generator
from generator.training.augment import diff_augment
from generator.training.classifier import (
    ClassifierConfig,
    PhantomClassifier,
    load_classifier,
    train_classifier,
)
from generator.training.data import BalancedSampler, class_weights, load_image_set
from generator.training.losses import GestaltLoss
from generator.training.state import EXPORT, LATEST
from generator.training.train import run_training

TINY = PRESETS["tiny"]

_TRAIN = TrainConfig(batch=4, r1_interval=2, checkpoint_every=1, unaffected_factor=2.0)


def test_gestalt_loss_gradient_reaches_the_generator() -> None:
    torch.manual_seed(0)
    G = Generator(TINY)
    clf = PhantomClassifier(ClassifierConfig(resolution=16, channels=(8, 8), num_classes=3))
    loss_fn = GestaltLoss(clf, ["beta", "alpha", "unaffected"], ["alpha", "beta", "unaffected"])
    labels = torch.tensor([0, 1, 2, 0])
    images = G(torch.randn(4, TINY.z_dim), labels, noise=G.synthesis.make_noise(4))
    loss_fn(diff_augment(images, TrainConfig().gestalt_view), labels).backward()  # as trained
    for name in (
        "mapping.embed.weight",
        "mapping.mlp.0.weight",
        "synthesis.const",
        "synthesis.to_rgbs.0.conv.weight",
    ):
        grad = dict(G.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert all(p.grad is None for p in clf.parameters())  # the judge stays frozen
    # the paper's hard rank, by contrast, is piecewise constant: no gradient can flow through it
    assert not loss_fn.rank(images, labels).requires_grad


def test_the_gestalt_view_keeps_structure_and_drops_pixel_level_texture() -> None:
    # a generator must not satisfy the GestaltLoss with texture: the view it is judged through
    # wipes out a one-pixel checkerboard but keeps a face-sized blob
    rows, cols = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    checker = (((rows + cols) % 2) * 2 - 1).float().expand(1, 3, 16, 16)
    blob = (((rows - 8) ** 2 + (cols - 8) ** 2 < 25).float() * 2 - 1).expand(1, 3, 16, 16)
    assert diff_augment(checker, "blur").abs().max() < 0.01
    assert (diff_augment(blob, "blur") - blob).abs().mean() < 0.2
    assert "blur" in TrainConfig().gestalt_view.split(",")


def test_gestalt_loss_refuses_a_classifier_without_the_disorder() -> None:
    clf = PhantomClassifier(ClassifierConfig(resolution=16, channels=(8,), num_classes=2))
    with pytest.raises(ValueError, match="gamma"):
        GestaltLoss(clf, ["alpha", "beta"], ["alpha", "gamma"])


def test_balanced_sampling_gives_unaffected_its_exposure_factor() -> None:
    labels = torch.tensor([0] * 90 + [1] * 10 + [2] * 50)  # imbalanced data
    sampler = BalancedSampler(labels, class_weights(["a", "b", "unaffected"], 3.0))
    drawn = labels[sampler.real_indices(20_000, torch.Generator().manual_seed(0))]
    freq = torch.bincount(drawn, minlength=3).double() / 20_000
    assert torch.allclose(freq, torch.tensor([0.2, 0.2, 0.6], dtype=torch.float64), atol=0.02)


def test_a_few_steps_train_and_a_resumed_run_matches_an_uninterrupted_one(phantom_data: Path, tmp_path: Path) -> None:
    straight = run_training(phantom_data, tmp_path / "a", TINY, _TRAIN, steps=4)
    run_training(phantom_data, tmp_path / "b", TINY, _TRAIN, steps=2)
    assert load_checkpoint_file(tmp_path / "b" / LATEST).extra["step"] == 2
    resumed = run_training(phantom_data, tmp_path / "b", TINY, _TRAIN, steps=4)
    a, b = load_checkpoint_file(straight), load_checkpoint_file(resumed)
    assert a.provenance["steps"] == b.provenance["steps"] == 4
    for name, tensor in a.tensors.items():
        assert torch.allclose(tensor, b.tensors[name], atol=1e-6), name
    assert a.disorders[-1] == "unaffected" and len(a.disorders) == 9


def test_resuming_with_another_config_is_refused(phantom_data: Path, tmp_path: Path) -> None:
    run_training(phantom_data, tmp_path, TINY, _TRAIN, steps=1)
    wider = NetworkConfig.from_json(TINY.to_json() | {"z_dim": 8})
    with pytest.raises(CheckpointError, match="z_dim"):
        run_training(phantom_data, tmp_path, wider, _TRAIN, steps=2)


def test_training_with_gestalt_loss_and_classifier_checkpoint(phantom_data: Path, tmp_path: Path) -> None:
    clf_path = tmp_path / "clf.safetensors"
    train_classifier(phantom_data, clf_path, epochs=1, batch=4, config=ClassifierConfig(16, (8, 8), 9))
    clf = load_classifier(clf_path)
    assert clf.disorders == load_image_set(phantom_data, 16, training_only=False).disorders
    train = TrainConfig(batch=4, r1_interval=2, checkpoint_every=10, gestalt_weight=0.5)
    out = run_training(phantom_data, tmp_path / "g", TINY, train, steps=2, classifier_path=clf_path)
    assert out.name == EXPORT
    assert load_checkpoint_file(out).provenance["train_config"]["gestalt_weight"] == 0.5


@pytest.mark.slow
def test_the_train_cli_trains_exports_and_resumes(phantom_data: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    args = [sys.executable, "-m", "generator", "train", str(phantom_data), "--config", "tiny"]
    args += ["--out", str(tmp_path), "--batch", "4", "--checkpoint-every", "1", "--threads", "1"]
    subprocess.run([*args, "--steps", "1"], check=True, capture_output=True)
    done = subprocess.run([*args, "--steps", "2"], check=True, capture_output=True, text=True)
    assert "resumed from" in done.stderr and "exported" in done.stdout
    provenance = load_checkpoint_file(tmp_path / EXPORT).provenance
    assert provenance["steps"] == 2 and "--config tiny" in provenance["command"]


def test_a_fresh_run_can_start_from_an_exported_generator(phantom_data: Path, tmp_path: Path) -> None:
    from generator.nets.config import TrainConfig as Train
    from generator.training.state import build_state, init_generator_from

    exported = run_training(phantom_data, tmp_path / "base", TINY, _TRAIN, steps=2)
    base = load_checkpoint_file(exported)
    config = NetworkConfig.from_json(base.config)  # the trainer sized the classes to the data's
    state = build_state(config, Train(), torch.device("cpu"), seed=5)
    checkpoint_id = init_generator_from(state, exported, config, list(base.disorders))
    assert checkpoint_id == base.checkpoint_id and state.step == 0
    for module in (state.G, state.G_ema):
        for name, tensor in module.state_dict().items():
            assert torch.equal(tensor, base.tensors[f"G_ema.{name}"]), name

    tuned = run_training(phantom_data, tmp_path / "tuned", TINY, _TRAIN, steps=1, init_from=exported)
    assert load_checkpoint_file(tuned).provenance["initialised_from"] == base.checkpoint_id


def test_starting_from_a_generator_of_other_disorders_is_refused(phantom_data: Path, tmp_path: Path) -> None:
    from generator.nets.config import TrainConfig as Train
    from generator.training.state import build_state, init_generator_from

    exported = run_training(phantom_data, tmp_path / "base", TINY, _TRAIN, steps=1)
    base = load_checkpoint_file(exported)
    config = NetworkConfig.from_json(base.config)
    state = build_state(config, Train(), torch.device("cpu"), seed=0)
    with pytest.raises(CheckpointError, match="disorders"):
        init_generator_from(state, exported, config, list(reversed(base.disorders)))
