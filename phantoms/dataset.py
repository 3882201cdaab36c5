"""Writes a folder of phantom portraits with the manifest the image bank and the generator read."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from phantoms.disorders import class_codes
from phantoms.face import check_spread
from phantoms.render import render_portrait

MANIFEST_COLUMNS = ("filename", "disorder", "kind", "used_in_training", "source")
SOURCE = "phantom-renderer"


def used_in_training(individual: int) -> bool:
    """Even individuals form the generator's training split, odd ones are held out.

    The survey's re-identification category needs both kinds per disorder, and the generator's
    trainer reads only rows marked 1, so the split is decided here once.
    """
    return individual % 2 == 0


def write_dataset(
    out_dir: Path,
    per_class: int,
    size: int,
    first_individual: int = 0,
    classes: Sequence[str] | None = None,
    spread: float = 1.0,
) -> Path:
    """Render `per_class` portraits of every class (or of `classes`) into out_dir; return the
    manifest path. spread > 1 widens the individuals' facial variation (see base_params)."""
    # everything is checked before the first file is written, so bad input leaves nothing behind
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    check_spread(spread)
    known = class_codes()
    codes = tuple(classes) if classes is not None else known
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise ValueError(f"unknown classes {', '.join(unknown)}; known: {', '.join(known)}")
    if not codes:
        raise ValueError(f"no classes to render; known: {', '.join(known)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(MANIFEST_COLUMNS)
        for code in codes:
            for individual in range(first_individual, first_individual + per_class):
                filename = f"{code}_{individual:05d}.png"
                render_portrait(code, individual, size, spread).save(out_dir / filename, optimize=False)
                writer.writerow((filename, code, "real", int(used_in_training(individual)), SOURCE))
    return manifest
