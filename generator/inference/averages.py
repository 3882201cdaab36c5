"""Latent averages (mean w, one synthesis) versus pixel averages, a sharpness measure, and the
per-class w averages that truncation pulls towards, recomputed from many samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from generator.inference.sampling import to_uint8
from generator.nets.checkpoint import load_checkpoint_file, save_checkpoint
from generator.nets.device import inference_autocast
from generator.nets.model import LoadedGenerator, load_generator
from generator.nets.networks import Generator, MappingNetwork
from generator.nvlabs.networks import ImportedGenerator

# samples per class behind a recomputed truncation centre: its standard error is then about 1 % of
# the spread of w within a class
W_AVG_SAMPLES = 10_000


@torch.inference_mode()
def mean_w(model: LoadedGenerator, label: int, n_samples: int, seed: int, chunk: int = 10_000) -> torch.Tensor:
    """Mean of `n_samples` mapped latents of one class; only the mapping network runs."""
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    g = torch.Generator().manual_seed(seed)
    mapping = model.generator.mapping
    total = torch.zeros(1, model.config.w_dim, device=model.device)
    for start in range(0, n_samples, chunk):
        n = min(chunk, n_samples - start)
        z = torch.randn(n, model.config.z_dim, generator=g).to(model.device)
        labels = torch.full((n,), label, dtype=torch.long, device=model.device)
        total += mapping(z, labels).float().sum(dim=0, keepdim=True)
    return total / n_samples


@torch.inference_mode()
def latent_average(model: LoadedGenerator, label: int, n_samples: int = 10_000, seed: int = 0) -> np.ndarray:
    """HWC uint8 image synthesised once from the class's mean w (no noise: the mean face)."""
    w = mean_w(model, label, n_samples, seed)
    with inference_autocast(model.device):
        return to_uint8(model.generator.synthesis(w))[0]


def pixel_average(images: np.ndarray) -> np.ndarray:
    """Pixel mean of aligned NHWC uint8 images, the way printed average faces are made."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected NHWC RGB images, got shape {images.shape}")
    return images.astype(np.float64).mean(axis=0).round().astype(np.uint8)


def laplacian_variance(image: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of the grey image: higher means sharper."""
    grey = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) if image.ndim == 3 else image.astype(np.float64)
    lap = grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    return float(lap.var())


@torch.no_grad()
def class_w_means(
    mapping: MappingNetwork, n_samples: int = W_AVG_SAMPLES, seed: int = 0, chunk: int = 10_000
) -> torch.Tensor:
    """[classes, w_dim] mean mapped w of each class from `n_samples` z each. Every class sees the
    same z draws (one CPU generator seeded with `seed`), as `mean_w` does, so the centres differ
    only by what the class does to w."""
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    device = mapping.w_avg.device
    means = []
    for label in range(int(mapping.num_classes)):
        g = torch.Generator().manual_seed(seed)
        total = torch.zeros(mapping.w_dim, dtype=torch.float64, device=device)
        for start in range(0, n_samples, chunk):
            n = min(chunk, n_samples - start)
            z = torch.randn(n, mapping.z_dim, generator=g).to(device)
            labels = torch.full((n,), label, dtype=torch.long, device=device)
            total += mapping(z, labels).double().sum(dim=0)
        means.append(total / n_samples)
    return torch.stack(means).float()


@torch.no_grad()
def recompute_class_w_avg(
    generator: Generator | ImportedGenerator, n: int = W_AVG_SAMPLES, seed: int = 0
) -> torch.Tensor:
    """Replace the generator's per-class truncation centres (`mapping.w_avg`, a running average
    during training that lags the final mapping) by each class's mean w over `n` samples; returns
    the new centres. Call it on the EMA generator at the end of training and after an import."""
    mapping = generator.mapping
    centres = class_w_means(mapping, n, seed)
    mapping.w_avg.copy_(centres.to(mapping.w_avg.dtype))
    if hasattr(mapping, "w_avg_seen"):
        mapping.w_avg_seen.fill_(True)
    return centres


def recompute_checkpoint_w_avg(
    source: Path, out: Path, n: int = W_AVG_SAMPLES, seed: int = 0
) -> tuple[str, torch.Tensor]:
    """Write `out`: the generator checkpoint `source` with its G_ema's per-class w averages
    recomputed from `n` samples each (every other tensor as it was). Returns the new checkpoint
    id and each class's shift, as a share of the mean distance between two class centres."""
    ckpt = load_checkpoint_file(source, expected_kind="generator")
    model = load_generator(source, device="cpu")
    old = model.generator.mapping.w_avg.clone()
    new = recompute_class_w_avg(model.generator, n, seed)
    state = model.generator.state_dict()
    tensors = dict(ckpt.tensors)
    for key in (k for k in state if k.endswith(("mapping.w_avg", "mapping.w_avg_seen"))):
        tensors[f"G_ema.{key}"] = state[key]
    provenance = ckpt.provenance | {
        "w_avg": {"samples_per_class": n, "seed": seed, "recomputed_from": ckpt.checkpoint_id}
    }
    checkpoint_id = save_checkpoint(
        out,
        kind=ckpt.kind,
        config=ckpt.config,
        disorders=ckpt.disorders,
        provenance=provenance,
        tensors=tensors,
        extra=ckpt.extra,
    )
    between = torch.pdist(new.double()).mean() if len(new) > 1 else torch.tensor(1.0)
    return checkpoint_id, ((new - old).double().norm(dim=1) / between).float()
