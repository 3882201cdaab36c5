"""`python -m generator evaluate`: the gates on generated portraits, per disorder, as a CSV table,
a Markdown report and a figure."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from tqdm import tqdm

from generator.gates.brightness import BrightnessBias, brightness_bias, luminance
from generator.gates.classifiers import target_ranks
from generator.gates.pipeline import GateSet
from generator.inference.averages import mean_w
from generator.inference.sampling import generate_batch, to_uint8
from generator.nets.model import LoadedGenerator

# one disorder's row (DisorderTally.row, plus latent_average_rank): counts are ints, rates floats,
# None where a gate is off
GateRow = dict[str, str | int | float | None]

COLUMNS = (
    "disorder",
    "n",
    "fail_case_rate",
    "top1",
    "top_k",
    "false_pass_rate",
    "privacy_flagged",
    "privacy_min_distance",
    "privacy_median_distance",
    "privacy_threshold",
    "passed",
    "pass_rate",
    "latent_average_rank",
)


@dataclass
class DisorderTally:
    """Running sums over the batches of one disorder."""

    n: int = 0
    face_fail: int = 0
    top1: int = 0
    top_k: int = 0
    ranked: int = 0
    false_passes: int = 0  # (portrait, other class) pairs where the other class is in the top k
    other_classes: int = 0  # (portrait, other class) pairs counted
    flagged: int = 0
    passed: int = 0
    distances: list[torch.Tensor] = field(default_factory=list)
    closest: tuple[float, np.ndarray, int] | None = None  # (distance, image, training index)
    luma: list[np.ndarray] = field(default_factory=list)  # brightness of every portrait
    face_passed: list[np.ndarray] = field(default_factory=list)  # face gate outcome of each

    def row(self, disorder: str, gates: GateSet) -> GateRow:
        d = torch.cat(self.distances) if self.distances else None
        return {
            "disorder": disorder,
            "n": self.n,
            "fail_case_rate": self.face_fail / self.n if gates.face is not None else None,
            "top1": self.top1 / self.ranked if self.ranked else None,
            "top_k": self.top_k / self.ranked if self.ranked else None,
            "false_pass_rate": (self.false_passes / self.other_classes if self.other_classes else None),
            "privacy_flagged": self.flagged if gates.privacy is not None else None,
            "privacy_min_distance": float(d.min()) if d is not None else None,
            "privacy_median_distance": float(d.median()) if d is not None else None,
            "privacy_threshold": gates.privacy.threshold if gates.privacy is not None else None,
            "passed": self.passed,
            "pass_rate": self.passed / self.n,
        }


def evaluate_gates(
    model: LoadedGenerator,
    gates: GateSet,
    per_disorder: int,
    truncation: float = 1.0,
    batch: int = 64,
    first_seed: int = 0,
) -> tuple[list[GateRow], dict[str, tuple[float, np.ndarray, int]], BrightnessBias | None]:
    """Rows of COLUMNS per disorder; each disorder's generated image closest to a training
    portrait (distance, HWC uint8, training index) when the privacy gate runs; and the face
    gate's pass rate by brightness quartile over all portraits (None without a face gate)."""
    if per_disorder < 1:
        raise ValueError(f"per_disorder must be at least 1, got {per_disorder}")
    rows, closest = [], {}
    luma, face_passed = [], []
    seeds = list(range(first_seed, first_seed + per_disorder))
    for disorder in model.disorders:
        tally = DisorderTally()
        label = model.label_of(disorder)
        for start in tqdm(range(0, len(seeds), batch), desc=f"gates {disorder}", unit="batch"):
            images = generate_batch(model, label, seeds[start : start + batch], truncation).float()
            _tally(tally, gates, images, disorder)
        rows.append(tally.row(disorder, gates) | {"latent_average_rank": _latent_rank(model, gates, disorder)})
        if tally.closest is not None:
            closest[disorder] = tally.closest
        luma += tally.luma
        face_passed += tally.face_passed
    brightness = (
        brightness_bias(np.concatenate(luma), np.concatenate(face_passed), gates.settings.brightness_tolerance)
        if face_passed
        else None
    )
    return rows, closest, brightness


def real_brightness(gates: GateSet) -> BrightnessBias | None:
    """The face gate on its real calibration portraits, by their own brightness quartiles."""
    cal = gates.face_calibration
    if cal is None or not cal.luma or gates.face_threshold is None:
        return None
    passed = np.asarray(cal.scores) >= gates.face_threshold
    return brightness_bias(np.asarray(cal.luma), passed, gates.settings.brightness_tolerance)


@torch.inference_mode()
def _latent_rank(model: LoadedGenerator, gates: GateSet, disorder: str) -> int | None:
    """Rank the classifier gives the disorder for its latent average (10,000 w): the image the
    re-identification questions show, so it should carry the disorder's features too."""
    if gates.classifier is None or disorder not in gates.classifier.disorders:
        return None
    w = mean_w(model, model.label_of(disorder), 10_000, seed=0)
    image = model.generator.synthesis(w).float().to(gates.classifier.device)
    logits = gates.classifier.logits(image).float()
    return int(target_ranks(logits, gates.classifier.disorders.index(disorder))[0])


def _tally(tally: DisorderTally, gates: GateSet, images: torch.Tensor, disorder: str) -> None:
    result = gates.check(images, disorder)
    tally.n += len(images)
    tally.passed += int(result.all_passed.sum())
    if "face" in result.passed:
        tally.face_fail += int((~result.passed["face"]).sum())
        tally.face_passed.append(result.passed["face"].numpy())
        tally.luma.append(luminance(to_uint8(images)))
    if result.rank is not None and result.logits is not None:
        k = gates.k
        tally.ranked += len(images)
        tally.top1 += int((result.rank <= 1).sum())
        tally.top_k += int((result.rank <= k).sum())
        in_top_k = class_ranks(result.logits) <= k
        assert gates.classifier is not None  # ranks come from the classifier (GateSet.check)
        target = gates.classifier.disorders.index(disorder)
        in_top_k[:, target] = False
        tally.false_passes += int(in_top_k.sum())
        tally.other_classes += len(images) * (result.logits.shape[1] - 1)
    if result.distance is not None:
        assert result.nearest is not None  # GateSet.check sets the two together
        tally.flagged += int((~result.passed["privacy"]).sum())
        tally.distances.append(result.distance)
        i = int(result.distance.argmin())
        if tally.closest is None or float(result.distance[i]) < tally.closest[0]:
            image = to_uint8(images[i : i + 1])[0]
            tally.closest = (float(result.distance[i]), image, int(result.nearest[i]))


def class_ranks(logits: torch.Tensor) -> torch.Tensor:
    """[N, C] 1-based rank of every class in each row, with the ties rule of `target_ranks`."""
    return (logits[:, None, :] > logits[:, :, None]).sum(dim=2) + 1


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def write_csv(rows: list[GateRow], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if r[k] is None else r[k] for k in COLUMNS})


def markdown_table(rows: list[GateRow]) -> str:
    head = (
        "| disorder | n | fail-case rate | top-1 | top-k | false pass | privacy flagged | "
        "min dist | median dist | passed all | latent avg rank |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['disorder']} | {r['n']} | {_fmt(r['fail_case_rate'])} | {_fmt(r['top1'])} | "
            f"{_fmt(r['top_k'])} | {_fmt(r['false_pass_rate'])} | {_fmt(r['privacy_flagged'])} | {_fmt(r['privacy_min_distance'])} | "
            f"{_fmt(r['privacy_median_distance'])} | {r['passed']} ({_fmt(r['pass_rate'])}) | "
            f"{_fmt(r['latent_average_rank'])} |"
        )
    return "\n".join(lines)


def markdown_report(
    rows: list[GateRow],
    model: LoadedGenerator,
    gates: GateSet,
    notes: list[str],
    command: str,
    truncation: float,
    figure_name: str,
    brightness: BrightnessBias | None = None,
) -> str:
    k = f"top {gates.k}" if gates.classifier is not None else "top k"
    parts = [
        f"# Gates on generated portraits: checkpoint {model.checkpoint_id}",
        "",
        f"`{command}`",
        "",
        (
            f"{rows[0]['n'] if rows else 0} portraits per disorder (seeds from 0, truncation "
            f"{truncation:g}), {model.config.resolution} px."
        ),
        "",
        *[f"- {line}" for line in notes],
        "",
        markdown_table(rows),
        "",
        "- **fail-case rate**: share of portraits whose face confidence is below the threshold.",
        (
            f"- **top-1 / top-k**: share of portraits the classifier ranks as the requested "
            f"disorder first / in its {k} (the disorder gate; n/a: the classifier does not know "
            "the disorder)."
        ),
        (
            f"- **false pass**: share of (portrait, other disorder) pairs where another disorder "
            f"is in the {k}: how often the gate would pass a portrait requested as a disorder it "
            "does not show. Chance, for a portrait without any disorder signal, is k / classes."
        ),
        (
            "- **privacy flagged**: portraits nearer to a training portrait than the threshold; "
            "**min / median dist**: their nearest-training distances in the classifier's embedding."
        ),
        "- **passed all**: portraits that pass every gate in force (what fill_pool would add).",
        (
            "- **latent avg rank**: the classifier's rank of the disorder for its latent average "
            "(mean of 10,000 w, no noise); 1 = recognised. Latent averages are not gated."
        ),
    ]
    real = real_brightness(gates)
    if brightness is not None:
        parts += ["", f"- generated: {brightness.line()}"]
        if real is not None:
            assert gates.face_calibration is not None  # real_brightness is None without one
            parts.append(f"- real ({gates.face_calibration.source}): {real.line()}")
        parts.append(
            "- brightness: mean luma of the central square (half the side); quartiles of each set's own portraits."
        )
    if gates.privacy is not None:
        d = gates.privacy.heldout_distances
        parts += [
            "",
            (
                f"Held-out real portraits' nearest-training distance: 1st percentile "
                f"{float(torch.quantile(d.double(), 0.01)):.4f}, median {float(d.median()):.4f}, "
                f"n = {len(d)}."
            ),
        ]
    parts += ["", f"![per-disorder gates]({figure_name})", ""]
    return "\n".join(parts)


_BAR_COLOURS = {
    "fail-case rate": (200, 60, 60),
    "top-1": (60, 110, 200),
    "top-k": (120, 170, 230),
    "privacy flagged": (230, 150, 40),
}


def figure(
    rows: list[GateRow],
    closest: dict[str, tuple[float, np.ndarray, int]],
    train_images: torch.Tensor | None,
) -> Image.Image:
    """Per disorder: bars for the four rates, then (privacy on) the generated portrait nearest to
    a training portrait beside that training portrait."""
    label_w, bar_w, row_h, thumb = 90, 300, 64, 64
    width = label_w + bar_w + 20 + 2 * thumb + 120
    img = Image.new("RGB", (width, 30 + row_h * len(rows)), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    x = label_w
    for name, colour in _BAR_COLOURS.items():
        draw.rectangle((x, 4, x + 10, 14), fill=colour)
        draw.text((x + 14, 3), name, fill=(0, 0, 0))
        x += 14 + 7 * len(name)
    draw.text((label_w + bar_w + 20, 16), "closest pair: generated | training", fill=(0, 0, 0))
    for i, r in enumerate(rows):
        y = 30 + i * row_h
        draw.text((4, y + row_h // 2 - 6), str(r["disorder"]), fill=(0, 0, 0))
        flagged, n = r["privacy_flagged"], r["n"]
        assert n is not None  # the portrait count, never None
        values = [
            r["fail_case_rate"],
            r["top1"],
            r["top_k"],
            None if flagged is None else int(flagged) / int(n),
        ]
        for j, (value, colour) in enumerate(zip(values, _BAR_COLOURS.values())):
            top = y + 4 + j * 14
            draw.rectangle((label_w, top, label_w + bar_w, top + 11), outline=(220, 220, 220))
            if value is not None:
                draw.rectangle((label_w, top, label_w + int(bar_w * float(value)), top + 11), fill=colour)
                draw.text((label_w + bar_w + 2, top), f"{float(value):.2f}", fill=(0, 0, 0))
        pair = closest.get(str(r["disorder"]))
        if pair is not None and train_images is not None:
            dist, generated, index = pair
            x0 = label_w + bar_w + 40
            img.paste(Image.fromarray(generated).resize((thumb - 4, thumb - 4)), (x0, y + 2))
            real = train_images[index].permute(1, 2, 0).numpy()
            img.paste(Image.fromarray(real).resize((thumb - 4, thumb - 4)), (x0 + thumb, y + 2))
            draw.text((x0 + 2 * thumb + 4, y + row_h // 2 - 6), f"d={dist:.3f}", fill=(0, 0, 0))
    return img
