"""The generator on CUDA: what only a GPU node can show. Skipped where torch sees no GPU; run by
scripts/gpu_check.sh on a lent device."""

from __future__ import annotations

import pytest
import torch

from generator.api import latent_average_image, load_checkpoint, sample_images

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
BUNDLED = "fixtures/models/generator-demo64.safetensors"


def pixels(pairs) -> torch.Tensor:
    import numpy as np

    return torch.from_numpy(np.stack([np.asarray(image) for image, _ in pairs])).float()


def test_auto_picks_cuda_and_samples_there():
    model = load_checkpoint(BUNDLED, device="auto")
    assert model.device.type == "cuda"
    pairs = sample_images(model, "velmar", [0, 1, 2], truncation=0.7)
    assert [p["seed"] for _, p in pairs] == [0, 1, 2] and pairs[0][0].size == (64, 64)


def test_a_seed_gives_the_same_image_whatever_the_batch_on_cuda():
    model = load_checkpoint(BUNDLED, device="cuda")
    seeds = list(range(24))
    alone = pixels(sample_images(model, "dravik", seeds, 0.7, batch=1))
    together = pixels(sample_images(model, "dravik", seeds, 0.7, batch=24))
    # bf16 autocast rounds differently per batch shape: a few levels at most, never another face.
    assert (alone - together).abs().mean() < 1.0 and (alone - together).abs().max() <= 24


def test_cuda_and_cpu_draw_the_same_portrait_for_a_seed():
    on_gpu = pixels(sample_images(load_checkpoint(BUNDLED, device="cuda"), "quellan", [5, 6], 0.7))
    on_cpu = pixels(sample_images(load_checkpoint(BUNDLED, device="cpu"), "quellan", [5, 6], 0.7))
    assert (on_gpu - on_cpu).abs().mean() < 2.0  # same z and noise from the per-seed CPU generator


def test_the_latent_average_runs_on_cuda():
    image, info = latent_average_image(load_checkpoint(BUNDLED, device="cuda"), "ostrin", n_samples=10_000)
    assert image.size == (64, 64) and info["n_samples"] == 10_000
