"""Latent averages (mean w, one synthesis) versus pixel averages, and a sharpness measure."""

from __future__ import annotations

import numpy as np
import torch

from generator.device import inference_autocast
from generator.model import LoadedGenerator
from generator.sampling import to_uint8


@torch.inference_mode()
def mean_w(
    model: LoadedGenerator, label: int, n_samples: int, seed: int, chunk: int = 10_000
) -> torch.Tensor:
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
def latent_average(
    model: LoadedGenerator, label: int, n_samples: int = 10_000, seed: int = 0
) -> np.ndarray:
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
    grey = (
        image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        if image.ndim == 3
        else image.astype(np.float64)
    )
    lap = grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    return float(lap.var())
