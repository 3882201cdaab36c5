"""Batched, seeded sampling: the same seed gives the same image whatever the batch size."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from tqdm import tqdm

from generator.inference.seeds import seed_inputs
from generator.nets.device import inference_autocast
from generator.nets.model import LoadedGenerator


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] NCHW float -> NHWC uint8."""
    out = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return out.permute(0, 2, 3, 1).cpu().numpy()


@torch.inference_mode()
def generate_batch(model: LoadedGenerator, label: int, seeds: list[int], truncation: float) -> torch.Tensor:
    """Float images [-1, 1] for one batch of seeds of one class, on the model's device."""
    g = model.generator
    z, noise = seed_inputs(seeds, model.config.z_dim, g.synthesis.noise_resolutions)
    dev = model.device
    labels = torch.full((len(seeds),), label, dtype=torch.long, device=dev)
    with inference_autocast(dev):
        return g(z.to(dev), labels, truncation=truncation, noise=[n.to(dev) for n in noise])


def iter_samples(
    model: LoadedGenerator,
    disorder: str,
    seeds: list[int],
    truncation: float,
    batch: int = 64,
    progress: bool = False,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (seed, HWC uint8 image) in seed order, `batch` seeds per forward pass."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    label = model.label_of(disorder)
    bar = tqdm(total=len(seeds), unit="img", desc=f"sampling {disorder}", disable=not progress)
    for start in range(0, len(seeds), batch):
        chunk = seeds[start : start + batch]
        images = to_uint8(generate_batch(model, label, chunk, truncation))
        bar.update(len(chunk))
        yield from zip(chunk, images)
    bar.close()


def provenance(model: LoadedGenerator, disorder: str, seed: int, truncation: float) -> dict[str, object]:
    return {
        "checkpoint_id": model.checkpoint_id,
        "disorder": disorder,
        "seed": seed,
        "truncation": truncation,
        "kind": "synthetic",
    }
