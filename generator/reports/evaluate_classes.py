"""How often a phantom classifier recognises the requested disorder in generated images."""

from __future__ import annotations

from pathlib import Path

import torch

from generator.inference.sampling import generate_batch
from generator.nets.model import load_generator
from generator.training.classifier import load_classifier
from generator.training.data import load_image_set, to_float

# one disorder's row: its code, counts (ints) and top-1 rates (floats)
ClassRow = dict[str, str | int | float]


@torch.inference_mode()
def evaluate_classes(
    checkpoint: Path,
    classifier: Path,
    per_disorder: int,
    truncation: float,
    device: torch.device,
    batch: int = 64,
    first_seed: int = 0,
    real_dir: Path | None = None,
) -> list[ClassRow]:
    """Top-1 accuracy per disorder on `per_disorder` generated images (seeds first_seed...), and
    on the real phantoms of `real_dir` when given, for comparison."""
    model = load_generator(checkpoint, device=str(device))
    clf = load_classifier(classifier, device)
    real = load_image_set(real_dir, model.config.resolution, training_only=False) if real_dir else None
    rows = []
    for disorder in model.disorders:
        if disorder not in clf.disorders:
            raise ValueError(f"classifier {classifier} does not know disorder {disorder!r}")
        target = clf.disorders.index(disorder)
        seeds = list(range(first_seed, first_seed + per_disorder))
        correct = 0
        for i in range(0, len(seeds), batch):
            images = generate_batch(model, model.label_of(disorder), seeds[i : i + batch], truncation).float()
            correct += int((clf.net(images).argmax(1) == target).sum())
        row: ClassRow = {
            "disorder": disorder,
            "n": per_disorder,
            "top1": correct / per_disorder,
            # the classifier picks among its own classes, which may be more than the generator's
            "classifier_classes": len(clf.disorders),
        }
        if real is not None and disorder in real.disorders:
            mask = real.labels == real.disorders.index(disorder)
            logits = clf.net(to_float(real.images[mask]).to(device))
            row["real_top1"] = float((logits.argmax(1) == target).float().mean())
            row["real_n"] = int(mask.sum())
        rows.append(row)
    return rows


def format_table(rows: list[ClassRow]) -> str:
    with_real = all("real_top1" in r for r in rows)
    head = f"{'disorder':<12} {'n':>5} {'top-1':>6}"
    lines = [head + (f"   {'real n':>6} {'real top-1':>10}" if with_real else "")]
    for r in rows:
        line = f"{r['disorder']:<12} {r['n']:>5} {r['top1']:>6.3f}"
        lines.append(line + (f"   {r['real_n']:>6} {r['real_top1']:>10.3f}" if with_real else ""))
    mean = sum(float(r["top1"]) for r in rows) / max(len(rows), 1)
    # a random guess among the classifier's classes, not the generator's
    classes = int(rows[0].get("classifier_classes", len(rows))) if rows else 1
    lines.append(f"{'mean':<12} {'':>5} {mean:>6.3f}   (chance {1 / max(classes, 1):.3f})")
    return "\n".join(lines)
