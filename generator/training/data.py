"""Reads a phantom dataset (manifest.csv + PNGs) into tensors and draws class-balanced batches."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from manifest import TRAINING_FLAG_SPELLINGS, parse_training_flag

UNAFFECTED = "unaffected"
REQUIRED_COLUMNS = ("filename", "disorder", "used_in_training")


@dataclass(frozen=True)
class ImageSet:
    images: torch.Tensor  # [N, 3, R, R] uint8
    labels: torch.Tensor  # [N] int64 index into disorders
    individuals: list[str]  # file names, for splits and error messages
    disorders: list[str]  # class index -> code; sorted disorders, then `unaffected`
    manifest_sha256: str  # provenance: which data a model saw


def class_order(codes: set[str]) -> list[str]:
    """Sorted disorder codes with `unaffected` last, so indices do not depend on file order."""
    return sorted(codes - {UNAFFECTED}) + ([UNAFFECTED] if UNAFFECTED in codes else [])


def read_portrait(path: Path, resolution: int) -> np.ndarray:
    """One portrait file as uint8 [R, R, 3], resized with Lanczos; OSError if it cannot be read."""
    with Image.open(path) as opened:
        img = opened.convert("RGB")
        if img.size != (resolution, resolution):
            img = img.resize((resolution, resolution), Image.Resampling.LANCZOS)
        return np.asarray(img)


def training_flags(manifest: Path, rows: list[dict[str, str]]) -> list[bool]:
    """Each row's used_in_training, read by the one rule the survey's import uses too."""
    flags = []
    for line, row in enumerate(rows, start=2):
        try:
            used = parse_training_flag(row["used_in_training"])
        except ValueError as error:
            raise ValueError(f"{manifest} line {line}: {error}") from None
        if used is None:
            raise ValueError(f"{manifest} line {line}: used_in_training is empty ({TRAINING_FLAG_SPELLINGS})")
        flags.append(used)
    return flags


def load_image_set(data_dir: Path, resolution: int, training_only: bool = True) -> ImageSet:
    """Images of the manifest (only rows with used_in_training=1 when training_only), resized."""
    data_dir = Path(data_dir)
    manifest = data_dir / "manifest.csv"
    if not manifest.is_file():
        raise ValueError(f"{data_dir}: no manifest.csv; write one with `python -m phantoms {data_dir}`")
    raw = manifest.read_bytes()
    rows = list(csv.DictReader(raw.decode("utf-8").splitlines()))
    missing = [c for c in REQUIRED_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise ValueError(f"{manifest}: empty or missing columns {missing}")
    flags = training_flags(manifest, rows)
    if training_only:
        rows = [r for r, used in zip(rows, flags, strict=True) if used]
    if not rows:
        raise ValueError(f"{manifest}: no rows with used_in_training=1")
    disorders = class_order({r["disorder"] for r in rows})
    arrays, labels = [], []
    for line, row in enumerate(rows, start=2):
        try:
            arrays.append(read_portrait(data_dir / row["filename"], resolution))
        except OSError as exc:
            raise ValueError(f"{manifest} line {line}: cannot read {row['filename']} ({exc})") from exc
        labels.append(disorders.index(row["disorder"]))
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return ImageSet(
        images=images,
        labels=torch.tensor(labels, dtype=torch.long),
        individuals=[r["filename"] for r in rows],
        disorders=disorders,
        manifest_sha256=hashlib.sha256(raw).hexdigest(),
    )


def class_weights(disorders: list[str], unaffected_factor: float) -> torch.Tensor:
    """Each disorder equally often; `unaffected` `unaffected_factor` times as often as one disorder."""
    w = torch.tensor([unaffected_factor if d == UNAFFECTED else 1.0 for d in disorders], dtype=torch.float64)
    return w / w.sum()


class BalancedSampler:
    """Over-samples so batches follow class_weights whatever the class sizes in the data."""

    def __init__(
        self,
        labels: torch.Tensor,  # [N] class index of each image
        weights: torch.Tensor,  # [C] wanted class frequencies, summing to 1
    ) -> None:
        counts = torch.bincount(labels, minlength=len(weights)).double()
        if (counts == 0).any():
            raise ValueError("every class needs at least one training image")
        self.image_weights = weights[labels] / counts[labels]
        self.class_weights = weights

    def real_indices(self, n: int, g: torch.Generator) -> torch.Tensor:
        return torch.multinomial(self.image_weights, n, replacement=True, generator=g)

    def fake_labels(self, n: int, g: torch.Generator) -> torch.Tensor:
        return torch.multinomial(self.class_weights, n, replacement=True, generator=g)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW -> float [-1, 1]."""
    return images.float() / 127.5 - 1.0
