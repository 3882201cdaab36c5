"""The privacy gate: a generated portrait must not sit closer to a training portrait than real,
unseen portraits of the same population do.

Reference: for each held-out real portrait, its distance to the nearest training portrait in the
classifier's embedding. A generated portrait whose own nearest-training distance falls below the
`percentile`-th of those is flagged as a possible near-copy.

A classifier's flattened feature map moves a lot under a one-pixel shift (stride-2 convolutions
alias), so a copy jittered by a pixel or two would look like a new person. The distance is therefore
the minimum over translations of the query by up to `shift_radius` pixels, for held-out and generated
portraits alike.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import torch

from generator.gates.classifiers import DisorderClassifier
from generator.gates.settings import DEFAULTS
from generator.training.data import load_image_set, to_float, training_flags

DEFAULT_PERCENTILE = DEFAULTS.privacy_percentile
DEFAULT_SHIFT_RADIUS = 2  # pixels of jitter a near-copy may carry and still be caught


@dataclass(frozen=True)
class PrivacyReference:
    train_embeddings: torch.Tensor  # [M, D] unit-length embeddings of the training portraits
    train_names: list[str]  # file name of each training portrait, for the report
    heldout_distances: torch.Tensor  # [K] nearest-training distance of each held-out portrait
    percentile: float  # which percentile of heldout_distances is the threshold
    threshold: float  # distances strictly below it are flagged
    train_images: torch.Tensor | None = None  # uint8 NCHW, kept for the report's figure
    shift_radius: int = DEFAULT_SHIFT_RADIUS  # queries are compared at every shift up to this


def nearest_training(
    embeddings: torch.Tensor, train_embeddings: torch.Tensor, chunk: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance, index) of the nearest training embedding for each row, Euclidean, chunked so
    the [N, M] distance matrix never has to fit at once."""
    train = train_embeddings.to(embeddings.device, embeddings.dtype)
    dists, idxs = [], []
    for start in range(0, len(embeddings), chunk):
        d = torch.cdist(embeddings[start : start + chunk], train)
        best = d.min(dim=1)
        dists.append(best.values)
        idxs.append(best.indices)
    return torch.cat(dists).cpu(), torch.cat(idxs).cpu()


def threshold_at(heldout_distances: torch.Tensor, percentile: float) -> float:
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"privacy percentile must lie in [0, 100], got {percentile}")
    if len(heldout_distances) == 0:
        raise ValueError("the privacy gate needs at least one held-out real portrait")
    return float(torch.quantile(heldout_distances.double(), percentile / 100.0))


@torch.inference_mode()
def shift_tolerant_nearest(
    classifier: DisorderClassifier,
    images: torch.Tensor,
    train_embeddings: torch.Tensor,
    radius: int = DEFAULT_SHIFT_RADIUS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance, index) of the nearest training portrait over all translations of each float
    image by -radius..radius pixels in x and y (a circular shift: the border is background)."""
    best_d: torch.Tensor | None = None
    best_i: torch.Tensor | None = None
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            moved = images.roll((dy, dx), dims=(2, 3)) if dy or dx else images
            d, i = nearest_training(classifier.embed(moved).float(), train_embeddings)
            if best_d is None or best_i is None:  # the first shift: the two are set together
                best_d, best_i = d, i
            else:
                closer = d < best_d
                best_d, best_i = torch.where(closer, d, best_d), torch.where(closer, i, best_i)
    # radius >= 0, so the loops ran at least once (dx = dy = 0)
    assert best_d is not None and best_i is not None
    return best_d, best_i


@torch.inference_mode()
def embed_all(classifier: DisorderClassifier, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """uint8 NCHW images -> [N, D] embeddings, in batches on the classifier's device."""
    out = [
        classifier.embed(to_float(images[i : i + batch]).to(classifier.device)).float()
        for i in range(0, len(images), batch)
    ]
    return torch.cat(out) if out else torch.empty(0, 0)


def build_reference(
    classifier: DisorderClassifier,
    train_images: torch.Tensor,
    heldout_images: torch.Tensor,
    percentile: float = DEFAULT_PERCENTILE,
    train_names: list[str] | None = None,
    shift_radius: int = DEFAULT_SHIFT_RADIUS,
    batch: int = 256,
) -> PrivacyReference:
    """From uint8 NCHW training and held-out real portraits (never the same individuals)."""
    if len(train_images) == 0:
        raise ValueError("the privacy gate needs at least one training portrait")
    train = embed_all(classifier, train_images)
    heldout = (
        torch.cat(
            [
                shift_tolerant_nearest(
                    classifier,
                    to_float(heldout_images[i : i + batch]).to(classifier.device),
                    train,
                    shift_radius,
                )[0]
                for i in range(0, len(heldout_images), batch)
            ]
        )
        if len(heldout_images)
        else torch.empty(0)
    )
    return PrivacyReference(
        train_embeddings=train.cpu(),
        train_names=train_names or [f"train{i}" for i in range(len(train))],
        heldout_distances=heldout,
        percentile=percentile,
        threshold=threshold_at(heldout, percentile),
        train_images=train_images,
        shift_radius=shift_radius,
    )


def load_split(data_dir: Path, resolution: int) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """(training images, their file names, held-out images) of a manifest folder: rows with
    used_in_training=1 are the training portraits, rows with 0 the held-out ones."""
    manifest = Path(data_dir) / "manifest.csv"
    data = load_image_set(data_dir, resolution, training_only=False)
    with manifest.open(encoding="utf-8", newline="") as fh:  # load_image_set checked it exists
        rows = list(csv.DictReader(fh))
    used = {r["filename"]: flag for r, flag in zip(rows, training_flags(manifest, rows), strict=True)}
    mask = torch.tensor([used[name] for name in data.individuals], dtype=torch.bool)
    if not mask.any() or mask.all():
        raise ValueError(
            f"{manifest}: the privacy gate needs rows with used_in_training=1 (training portraits) "
            "and rows with 0 (held-out real portraits of other individuals)"
        )
    names = [n for n, m in zip(data.individuals, mask.tolist()) if m]
    return data.images[mask], names, data.images[~mask]
