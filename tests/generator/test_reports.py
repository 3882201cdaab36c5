from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import torch

from generator.nets.checkpoint import save_checkpoint
from generator.nets.config import PRESETS, NetworkConfig, TrainConfig
from generator.reports.benchmark import flops_per_image, images_per_second, untrained_model
from generator.reports.evaluate_classes import evaluate_classes, format_table
from generator.reports.figures import averages_figure, sample_grid
from generator.training.classifier import ClassifierConfig, train_classifier
from generator.training.train import run_training

TINY = PRESETS["tiny"]


def test_grid_averages_evaluation_and_benchmark_run_on_a_tiny_model(phantom_data: Path, tmp_path: Path) -> None:
    ckpt = run_training(phantom_data, tmp_path / "g", TINY, TrainConfig(batch=4, checkpoint_every=10), steps=1)
    cpu = torch.device("cpu")
    grid = sample_grid(ckpt, tmp_path / "grid.png", per_disorder=2, truncation=0.7, device=cpu)
    assert grid.height == 9 * 32  # one row per class, tiles shown at 2x
    _figure, rows = averages_figure(ckpt, n_latent=500, n_pixel=4, device=cpu, data_dir=phantom_data)
    assert len(rows) == 9 and {"real_pixel_laplacian_var", "latent_laplacian_var"} <= set(rows[0])
    clf = tmp_path / "clf.safetensors"
    train_classifier(phantom_data, clf, epochs=1, batch=4, config=ClassifierConfig(16, (8, 8), 9))
    table = evaluate_classes(ckpt, clf, per_disorder=3, truncation=1.0, device=cpu, real_dir=phantom_data)
    assert [r["n"] for r in table] == [3] * 9 and "chance 0.111" in format_table(table)
    assert all(r["real_n"] == 2 for r in table) and "real top-1" in format_table(table)
    # chance is the classifier's: a 9-class judge guessing among its classes on a 2-class generator
    two_classes = [dict(r) for r in table[:2]]
    assert "chance 0.111" in format_table(two_classes)


def test_images_per_second_times_the_batches_after_one_warm_up(monkeypatch) -> None:
    """A stand-in generator that takes 0.5 s of a fake clock per batch: 8 images in batches of 4 after one
    warm-up batch are 8 / (2 x 0.5 s) = 8 images a second, and the warm-up is not timed."""
    from generator.reports import benchmark

    clock = {"now": 100.0}
    batches: list[list[int]] = []

    def one_batch(model, label, seeds, truncation):
        batches.append(list(seeds))
        clock["now"] += 0.5

    monkeypatch.setattr(benchmark, "generate_batch", one_batch)
    monkeypatch.setattr(benchmark, "time", SimpleNamespace(perf_counter=lambda: clock["now"]))
    model = untrained_model("tiny", torch.device("cpu"))
    assert images_per_second(model, 0, n=8, batch=4) == 8.0
    assert batches == [[0, 1, 2, 3], [0, 1, 2, 3], [4, 5, 6, 7]]


def test_checkpoint_save_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    save_checkpoint(
        path,
        kind="classifier",
        config={},
        disorders=[],
        provenance={},
        tensors={"a": torch.ones(2)},
    )
    assert path.exists() and not path.with_name("x.safetensors.tmp").exists()


def _generator_flops(config: NetworkConfig) -> int:
    """Multiply-adds x 2 of one image, by hand: styled 3x3 convs, ToRGB 1x1 convs, each layer's
    style affine and demodulation product, and the mapping MLP."""
    ch, res = config.channels, config.resolutions()
    convs = [(4, ch[4], ch[4])]
    rgbs = [(4, ch[4])]
    for prev, r in pairwise(res):
        convs += [(r, ch[prev], ch[r]), (r, ch[r], ch[r])]
        rgbs.append((r, ch[r]))
    total = sum(2 * r * r * i * o * 9 + 2 * config.w_dim * i + 2 * i * o for r, i, o in convs)
    total += sum(2 * r * r * i * 3 + 2 * config.w_dim * i for r, i in rgbs)
    widths = [config.z_dim + config.embed_dim] + [config.w_dim] * config.mapping_layers
    return total + sum(2 * a * b for a, b in pairwise(widths))


def test_the_benchmark_counts_the_arithmetic_of_one_image() -> None:
    # the compute-rate lines of the benchmark rest on this count
    model = untrained_model("tiny", torch.device("cpu"))
    assert flops_per_image(model, 0) == _generator_flops(TINY)
