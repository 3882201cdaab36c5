"""`python -m generator invert-study`: for disorders a generator never trained on, is the latent
average of inverted real portraits recognised as its disorder more often than their pixel average?"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from generator.gates.classifiers import DisorderClassifier, target_ranks
from generator.inference.sampling import to_uint8
from generator.inversion.invert import (
    FeatureNet,
    InversionSettings,
    describe_pose,
    invert,
    inverted_latent_average,
    pose_warp,
)
from generator.nets.model import LoadedGenerator
from generator.training.data import load_image_set, to_float


@dataclass(frozen=True)
class Misalignment:
    """Residual misalignment to give the portraits before either route averages them.

    Phantoms are rendered in perfect alignment, so their pixel average stays sharp; photographs
    aligned on landmarks still differ in position, scale and roll. Each portrait gets its own
    similarity transform drawn uniformly within these bounds (all zero: the portraits as they are)."""

    shift: float = 0.0  # largest shift, as a fraction of the side
    scale: float = 0.0  # largest relative change of size
    degrees: float = 0.0  # largest roll

    def __post_init__(self) -> None:
        if not (0 <= self.shift < 0.5 and 0 <= self.scale < 0.5 and 0 <= self.degrees <= 45):
            raise ValueError(
                f"misalignment out of range: shift {self.shift} and scale {self.scale} must lie "
                f"in [0, 0.5), degrees {self.degrees} in [0, 45]"
            )

    @property
    def active(self) -> bool:
        return bool(self.shift or self.scale or self.degrees)

    def describe(self) -> str:
        if not self.active:
            return "portraits as rendered (aligned)"
        return (
            f"each portrait misaligned by up to {self.shift:.0%} shift, {self.scale:.0%} scale "
            f"and {self.degrees:g} degrees roll"
        )


def draw_misalignment(n: int, bounds: Misalignment, seed: int) -> torch.Tensor:
    """[N, 4] seeded poses within the bounds, in `pose_warp`'s units (shift in half-sides,
    log-scale, radians), so that a fitted pose can be compared with the one applied."""
    g = torch.Generator().manual_seed(seed)

    def uniform(limit: float, size: tuple[int, ...] = (n,)) -> torch.Tensor:
        return (torch.rand(size, generator=g) * 2 - 1) * limit

    shift = uniform(2 * bounds.shift, (n, 2))  # half-sides: twice the fraction of the side
    log_scale = uniform(math.log1p(bounds.scale))
    roll = uniform(math.radians(bounds.degrees))
    return torch.cat([shift, log_scale[:, None], roll[:, None]], dim=1)


def misalign(images: torch.Tensor, bounds: Misalignment, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, 3, R, R] -> the same portraits, each moved by its own seeded similarity transform
    (edges repeat the border, as a photograph's background continues), and the [N, 4] poses
    applied (zeros, and the portraits themselves, when the bounds are all zero)."""
    poses = draw_misalignment(images.shape[0], bounds, seed)
    if not bounds.active:
        return images, poses
    return pose_warp(images.float(), poses), poses


@dataclass(frozen=True)
class GroupOutcome:
    disorder: str
    group: int
    n: int
    latent_rank: int  # rank of the true disorder for the inverted latent average (1 = recognised)
    latent_probability: float
    pixel_rank: int  # same for the pixel average of the same portraits
    pixel_probability: float
    loss_before: float  # mean reconstruction loss at the starting w
    loss_after: float
    tiles: tuple[np.ndarray, ...]  # pixel average, inverted latent average, first targets/recons
    # [n, 4] shift x, shift y (fractions of the side), scale, roll (degrees): the misalignment
    # given to each portrait, and the pose the inversion fitted (identity without fit_pose)
    applied_pose: np.ndarray
    fitted_pose: np.ndarray


@torch.inference_mode()
def _judge(classifier: DisorderClassifier, image: torch.Tensor, target: int) -> tuple[int, float]:
    logits = classifier.logits(image.to(classifier.device)).float()
    return int(target_ranks(logits, target)[0]), float(logits.softmax(1)[0, target])


def run_study(
    model: LoadedGenerator,
    classifier: DisorderClassifier,
    data_dir: Path,
    disorders: list[str],
    init_disorder: str,
    groups: int,
    per_group: int,
    settings: InversionSettings,
    feature_net: FeatureNet | None,
    misalignment: Misalignment = Misalignment(),
) -> list[GroupOutcome]:
    """Disjoint groups of `per_group` real portraits per disorder, first rows of the manifest;
    both routes average the same (optionally misaligned) portraits."""
    data = load_image_set(data_dir, model.config.resolution, training_only=False)
    init = model.label_of(init_disorder)
    outcomes = []
    for disorder in disorders:
        if disorder not in data.disorders or disorder not in classifier.disorders:
            raise ValueError(f"{disorder!r} must be in {data_dir} and known to the classifier")
        idx = (data.labels == data.disorders.index(disorder)).nonzero().squeeze(1)
        if len(idx) < groups * per_group:
            raise ValueError(f"{data_dir}: {len(idx)} portraits of {disorder}, need {groups * per_group}")
        target = classifier.disorders.index(disorder)
        for k in range(groups):
            images = to_float(data.images[idx[k * per_group : (k + 1) * per_group]])
            images, applied = misalign(images, misalignment, seed=1000 * target + k)
            print(f"{disorder} group {k + 1}/{groups}: inverting {per_group} portraits", flush=True)
            result = invert(model, images, init, settings, feature_net, progress=True, seed=k)
            latent = inverted_latent_average(model, result.w)
            pixel = images.mean(dim=0, keepdim=True)
            lr, lp = _judge(classifier, latent, target)
            pr, pp = _judge(classifier, pixel, target)
            tiles = (
                to_uint8(pixel)[0],
                to_uint8(latent)[0],
                *to_uint8(images[:3]),
                *to_uint8(result.reconstructions[:3]),
            )
            outcomes.append(
                GroupOutcome(
                    disorder,
                    k,
                    per_group,
                    lr,
                    lp,
                    pr,
                    pp,
                    float(result.initial_loss.mean()),
                    float(result.final_loss.mean()),
                    tiles,
                    describe_pose(applied).numpy(),
                    result.pose.numpy(),
                )
            )
    return outcomes


def summary_lines(outcomes: list[GroupOutcome]) -> list[str]:
    head = (
        f"{'disorder':<10} {'groups':>6} {'latent top-1':>12} {'pixel top-1':>11} "
        f"{'latent p':>8} {'pixel p':>8} {'loss before':>11} {'after':>7}"
    )
    lines = [head]
    for disorder in dict.fromkeys(o.disorder for o in outcomes):
        rows = [o for o in outcomes if o.disorder == disorder]
        lines.append(
            f"{disorder:<10} {len(rows):>6} {sum(o.latent_rank == 1 for o in rows):>9}/{len(rows):<2} "
            f"{sum(o.pixel_rank == 1 for o in rows):>8}/{len(rows):<2} "
            f"{np.mean([o.latent_probability for o in rows]):>8.3f} "
            f"{np.mean([o.pixel_probability for o in rows]):>8.3f} "
            f"{np.mean([o.loss_before for o in rows]):>11.4f} {np.mean([o.loss_after for o in rows]):>7.4f}"
        )
    n = len(outcomes)
    lines.append(
        f"{'all':<10} {n:>6} {sum(o.latent_rank == 1 for o in outcomes):>9}/{n:<2} "
        f"{sum(o.pixel_rank == 1 for o in outcomes):>8}/{n:<2}"
    )
    return lines


def pose_recovery_line(outcomes: list[GroupOutcome]) -> str | None:
    """How well the fitted poses follow the misalignment that was applied: Pearson r per
    component over all portraits (None when nothing was misaligned or no pose was fitted)."""
    applied = np.concatenate([o.applied_pose for o in outcomes])
    fitted = np.concatenate([o.fitted_pose for o in outcomes])
    if applied.std(axis=0).min() == 0 or fitted.std(axis=0).min() == 0:
        return None
    r = [float(np.corrcoef(applied[:, i], fitted[:, i])[0, 1]) for i in range(4)]
    return (
        f"fitted pose vs applied misalignment over {len(applied)} portraits, Pearson r: "
        f"shift x {r[0]:.2f}, shift y {r[1]:.2f}, scale {r[2]:.2f}, roll {r[3]:.2f}"
    )


def write_csv(outcomes: list[GroupOutcome], path: Path) -> None:
    fields = [
        "disorder",
        "group",
        "n",
        "latent_rank",
        "latent_probability",
        "pixel_rank",
        "pixel_probability",
        "loss_before",
        "loss_after",
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        for o in outcomes:
            writer.writerow([getattr(o, f) for f in fields])


def _mark(rank: int) -> str:
    return "yes" if rank == 1 else f"rank {rank}"


def figure(outcomes: list[GroupOutcome], scale: int = 2) -> Image.Image:
    """One row per group: pixel average | inverted latent average | 3 portraits | their inversions."""
    side = outcomes[0].tiles[0].shape[0] * scale
    label_w = 110
    titles = [
        "pixel avg",
        "inverted latent avg",
        "real 1",
        "real 2",
        "real 3",
        "inv 1",
        "inv 2",
        "inv 3",
    ]
    img = Image.new("RGB", (label_w + side * len(titles), 16 + side * len(outcomes)), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, title in enumerate(titles):
        draw.text((label_w + i * side + 2, 2), title, fill=(0, 0, 0))
    for row, o in enumerate(outcomes):
        y = 16 + row * side
        draw.text((2, y + 4), f"{o.disorder} #{o.group + 1}", fill=(0, 0, 0))
        draw.text((2, y + 20), f"pixel: {_mark(o.pixel_rank)}", fill=(0, 0, 0))
        draw.text((2, y + 36), f"latent: {_mark(o.latent_rank)}", fill=(0, 0, 0))
        for i, tile in enumerate(o.tiles):
            img.paste(
                Image.fromarray(tile).resize((side, side), Image.Resampling.NEAREST),
                (label_w + i * side, y),
            )
    return img
