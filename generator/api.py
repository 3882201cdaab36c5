"""The small API the survey's management commands call (import lazily: it loads torch)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from generator.averages import latent_average
from generator.model import LoadedGenerator, load_generator
from generator.sampling import iter_samples, provenance

__all__ = [
    "LoadedGenerator",
    "disorders",
    "latent_average_image",
    "load_checkpoint",
    "sample_images",
]


def load_checkpoint(path: str | Path, device: str = "auto") -> LoadedGenerator:
    """Load an exported or training generator checkpoint (its EMA weights) for inference."""
    return load_generator(Path(path), device=device)


def disorders(model: LoadedGenerator) -> list[str]:
    """The disorder codes the model was trained on, in class-index order (`unaffected` last)."""
    return list(model.disorders)


def sample_images(
    model: LoadedGenerator,
    disorder: str,
    seeds: list[int],
    truncation: float,
    batch: int = 64,
) -> list[tuple[Image.Image, dict]]:
    """One RGB image per seed with its provenance (checkpoint_id, disorder, seed, truncation)."""
    return [
        (Image.fromarray(img), provenance(model, disorder, seed, truncation))
        for seed, img in iter_samples(model, disorder, list(seeds), truncation, batch)
    ]


def latent_average_image(
    model: LoadedGenerator,
    disorder: str,
    n_samples: int = 10_000,
    seed: int = 0,
) -> tuple[Image.Image, dict]:
    """The disorder's latent average: mean of n_samples mapped w, synthesised once."""
    image = latent_average(model, model.label_of(disorder), n_samples, seed)
    info = {
        "checkpoint_id": model.checkpoint_id,
        "disorder": disorder,
        "n_samples": n_samples,
        "seed": seed,
        "kind": "latent_average",
    }
    return Image.fromarray(image), info
