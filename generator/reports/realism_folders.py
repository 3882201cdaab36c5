"""The portraits `python -m generator realism` measures (generator/reports/realism.py), read from folders:
a folder with a manifest, as `import_images` reads it, or one folder per kind. Numpy and Pillow only."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def _load(path: Path, size: int | None) -> np.ndarray:
    with Image.open(path) as opened:
        image = opened.convert("RGB")
        if size:
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
        return np.asarray(image)


def load_manifest_folder(
    folder: Path, size: int | None = None
) -> tuple[list[np.ndarray], list[np.ndarray], list[str], list[str]]:
    """A folder with `manifest.csv` (columns filename, kind and optionally disorder, as `import_images`
    reads them): real and synthetic images and their disorders; other kinds are left out."""
    real: list[np.ndarray] = []
    synthetic: list[np.ndarray] = []
    real_groups: list[str] = []
    synthetic_groups: list[str] = []
    with (folder / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            kind = (row.get("kind") or "").strip()
            if kind not in ("real", "synthetic"):
                continue
            image = _load(folder / row["filename"], size)
            group = (row.get("disorder") or "").strip()
            (real if kind == "real" else synthetic).append(image)
            (real_groups if kind == "real" else synthetic_groups).append(group)
    return real, synthetic, real_groups, synthetic_groups


def load_kind_folder(folder: Path, size: int | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Every image under `folder`, and its disorder: the part of the name before the first `_`
    (`velmar_seed000012.png`, as `python -m generator sample` names them), else its parent folder."""
    images: list[np.ndarray] = []
    groups: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        images.append(_load(path, size))
        groups.append(path.stem.split("_")[0] if "_" in path.stem else path.parent.name)
    return images, groups
