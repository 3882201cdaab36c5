"""The small API the survey's management commands call (import lazily: it loads torch)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from generator.gates.brightness import luminance
from generator.gates.pipeline import REASONS, GateSet, build_gates
from generator.gates.settings import DEFAULTS, GateSettings
from generator.inference.averages import latent_average
from generator.inference.sampling import generate_batch, iter_samples, provenance, to_uint8
from generator.nets.model import LoadedGenerator, load_generator

__all__ = [
    "REASONS",
    "GateSet",
    "GateSettings",
    "GatedSamples",
    "LoadedGenerator",
    "disorders",
    "gated_samples",
    "latent_average_image",
    "load_checkpoint",
    "load_gates",
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


def load_gates(
    model: LoadedGenerator,
    *,
    classifier: str | Path | None = None,
    face_detector: str = "auto",
    training_data: str | Path | None = None,
    face_calibration: str | Path | None = None,
    skip: frozenset[str] = frozenset(),
    settings: GateSettings = DEFAULTS,
) -> tuple[GateSet, list[str]]:
    """The quality and privacy gates for this model's portraits (bundled phantom models by default
    for a phantom checkpoint), and one line per gate saying what runs."""
    return build_gates(
        model.disorders,
        model.config.resolution,
        model.device,
        classifier=Path(classifier) if classifier else None,
        face_detector=face_detector,
        training_data=Path(training_data) if training_data else None,
        face_calibration=Path(face_calibration) if face_calibration else None,
        skip=frozenset(skip),
        settings=settings,
    )


@dataclass
class GatedSamples:
    accepted: list[tuple[Image.Image, dict]]  # passing portraits with provenance, in seed order
    tried: int  # seeds generated
    rejected: int  # portraits that failed at least one gate
    reasons: Counter = field(default_factory=Counter)  # gate name -> portraits failing it
    tried_luma: list[float] = field(default_factory=list)  # brightness of every seed generated
    face_passed: list[bool] = field(default_factory=list)  # its face gate outcome (if the gate ran)
    accepted_luma: list[float] = field(default_factory=list)  # brightness of each accepted one


def gated_samples(
    model: LoadedGenerator,
    gates: GateSet,
    disorder: str,
    wanted: int,
    seed_start: int,
    truncation: float,
    batch: int = 64,
    max_seeds: int | None = None,
) -> GatedSamples:
    """Generate seeds seed_start, seed_start+1, ... until `wanted` portraits pass every gate or
    `max_seeds` (default 10 x wanted) seeds are spent; rejected seeds are skipped, never retried."""
    limit = max_seeds if max_seeds is not None else 10 * wanted
    label = model.label_of(disorder)
    out = GatedSamples([], 0, 0)
    seed = seed_start
    while len(out.accepted) < wanted and out.tried < limit:
        # as many seeds as the pass rate so far says are needed, so few are wasted either way
        rate = (len(out.accepted) + 1) / (out.tried + 1)
        missing = wanted - len(out.accepted)
        size = min(batch, limit - out.tried, math.ceil(missing / rate))
        seeds = list(range(seed, seed + size))
        seed += size
        images = generate_batch(model, label, seeds, truncation).float()
        result = gates.check(images, disorder)
        ok = result.all_passed
        pixels = to_uint8(images)
        luma = luminance(pixels).tolist()
        out.tried += size
        out.tried_luma += luma
        if "face" in result.passed:
            out.face_passed += result.passed["face"].tolist()
        for i, s in enumerate(seeds):
            if bool(ok[i]) and len(out.accepted) < wanted:
                out.accepted.append((Image.fromarray(pixels[i]), provenance(model, disorder, s, truncation)))
                out.accepted_luma.append(luma[i])
            elif not bool(ok[i]):
                out.rejected += 1
                out.reasons.update(result.failed_gates(i))
    return out
