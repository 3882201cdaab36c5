"""PNG figures for the closing note: a sample grid per disorder, latent vs pixel averages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from generator.inference.averages import laplacian_variance, latent_average, pixel_average
from generator.inference.sampling import iter_samples
from generator.nets.model import load_generator
from generator.training.data import load_image_set

_LABEL_W = 90


def _labelled_row(label: str, tiles: list[np.ndarray], scale: int) -> Image.Image:
    size = tiles[0].shape[0] * scale
    row = Image.new("RGB", (_LABEL_W + size * len(tiles), size), (255, 255, 255))
    ImageDraw.Draw(row).text((4, size // 2 - 6), label, fill=(0, 0, 0))
    for i, tile in enumerate(tiles):
        row.paste(
            Image.fromarray(tile).resize((size, size), Image.Resampling.NEAREST),
            (_LABEL_W + i * size, 0),
        )
    return row


def _stack(rows: list[Image.Image]) -> Image.Image:
    out = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), (255, 255, 255))
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    return out


def sample_grid(checkpoint: Path, out: Path, per_disorder: int, truncation: float, device: torch.device) -> Image.Image:
    model = load_generator(checkpoint, device=str(device))
    rows = []
    for disorder in model.disorders:
        tiles = [img for _, img in iter_samples(model, disorder, list(range(per_disorder)), truncation)]
        rows.append(_labelled_row(disorder, tiles, scale=2 if model.config.resolution <= 64 else 1))
    return _stack(rows)


def averages_figure(
    checkpoint: Path,
    n_latent: int,
    n_pixel: int,
    device: torch.device,
    data_dir: Path | None = None,
) -> tuple[Image.Image, list[dict[str, float | str]]]:
    """Per disorder: [pixel average of real phantoms from data_dir |] pixel average of generated
    portraits | latent average, with the variance of the Laplacian of each."""
    model = load_generator(checkpoint, device=str(device))
    real = load_image_set(data_dir, model.config.resolution, training_only=False) if data_dir else None
    rows, table = [], []
    for label, disorder in enumerate(model.disorders):
        generated = np.stack([img for _, img in iter_samples(model, disorder, list(range(n_pixel)), 1.0)])
        tiles = [pixel_average(generated), latent_average(model, label, n_latent)]
        entry: dict[str, float | str] = {
            "disorder": disorder,
            "pixel_laplacian_var": laplacian_variance(tiles[0]),
            "latent_laplacian_var": laplacian_variance(tiles[1]),
        }
        if real is not None:
            idx = (real.labels == real.disorders.index(disorder)).nonzero().squeeze(1)[:n_pixel]
            tiles.insert(0, pixel_average(real.images[idx].permute(0, 2, 3, 1).numpy()))
            entry["real_pixel_laplacian_var"] = laplacian_variance(tiles[0])
        table.append(entry)
        rows.append(_labelled_row(disorder, tiles, scale=3 if model.config.resolution <= 64 else 1))
    size = rows[0].height
    header = Image.new("RGB", (rows[0].width, 16), (255, 255, 255))
    draw = ImageDraw.Draw(header)
    titles = ([f"real pixel avg (n={n_pixel})"] if real is not None else []) + [
        f"generated pixel avg (n={n_pixel})",
        f"latent avg (n={n_latent})",
    ]
    for i, title in enumerate(titles):
        draw.text((_LABEL_W + i * size + 4, 2), title, fill=(0, 0, 0))
    return _stack([header] + rows), table
