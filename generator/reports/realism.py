"""How much cheap pixel statistics give away: can they tell real portraits from synthetic ones?

Torch-free on purpose (numpy and Pillow only): the survey's leak audit imports this module, and the web
process never imports torch. Nothing here imports Django either.

Per portrait, a handful of statistics anyone could compute without looking at a face
(`STATISTICS`): gradient energy, mean horizontal gradient, Laplacian variance, colour moments (mean,
standard deviation and skewness per RGB channel) and the length of the pixels re-encoded as a stripped
JPEG at a fixed quality (a blurry portrait compresses better).

Two figures come out of `measure`:

- **Classifier AUC.** An L2-regularised, class-balanced logistic regression on all the statistics
  (standardised, the scale-like ones log-transformed), scored by leave-one-out: each portrait is scored
  by a model fitted on all the others (standardisation included), and the AUC is the Mann-Whitney
  probability that a held-out real portrait scores above a held-out synthetic one (ties count one half).
  Its 95 % interval is DeLong's (DeLong, DeLong & Clarke-Pearson 1988: the variance of the AUC from the
  per-portrait structural components, AUC ± 1.96 SE, clipped to [0, 1]). It treats the leave-one-out
  scores as if they came from one fixed model, so it is approximate; it is zero-width at a perfect
  separation. Leave-one-out is slightly pessimistic when nothing separates the kinds (the held-out
  portrait's absence pulls the model away from it), so an AUC a little under 0.5 means "nothing found".
  0.5: the statistics say nothing about the kind; 1: they give it away for every pair.
- **Pick rate per statistic.** In a real-vs-synthetic question (one real and three synthetic portraits of
  one disorder, chance 1/4), how often would a viewer who picks by a single statistic pick the real one?
  Questions are drawn at random from the bank (seeded); for each statistic the best of three rules is
  reported: the highest value, the lowest value, or the value farthest from the median of the four (the
  odd one out). Taking the best of three rules on the same questions flatters the statistic a little:
  this is a worst case for the bank, which is what a coordinator wants to know.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image

JPEG_QUALITY = 75  # the fixed quality of the JPEG-length statistic, whatever the bank's own quality
STATISTICS = (
    "gradient_energy",
    "horizontal_gradient",
    "laplacian_variance",
    "jpeg_length",
    *(f"{moment}_{channel}" for channel in "rgb" for moment in ("mean", "std", "skew")),
)
# Positive, scale-like statistics: the classifier sees their logarithm.
_LOG_STATISTICS = frozenset({"gradient_energy", "horizontal_gradient", "laplacian_variance", "jpeg_length"})
PICK_RULES = ("highest", "lowest", "odd one out")
CHANCE = 0.25


def _as_rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return array.astype(np.uint8)


def jpeg_length(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> int:
    """Bytes of the pixels encoded as a baseline JPEG with no metadata at a fixed quality."""
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="JPEG", quality=quality, optimize=False)
    return len(buffer.getvalue())


def features_of(image: Image.Image | np.ndarray) -> np.ndarray:
    """The statistics of one portrait, in the order of `STATISTICS`."""
    rgb = _as_rgb(image)
    pixels = rgb.astype(np.float64)
    grey = pixels @ np.array([0.299, 0.587, 0.114])
    dx = np.diff(grey, axis=1)
    dy = np.diff(grey, axis=0)
    laplacian = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4.0 * grey[1:-1, 1:-1]
    values = [
        float(np.mean(dx[:-1, :] ** 2 + dy[:, :-1] ** 2)),
        float(np.mean(np.abs(dx))),
        float(np.var(laplacian)),
        float(jpeg_length(rgb)),
    ]
    for c in range(3):
        channel = pixels[:, :, c].ravel()
        mean, std = channel.mean(), channel.std()
        skew = float(np.mean(((channel - mean) / std) ** 3)) if std > 0 else 0.0
        values.extend([float(mean), float(std), skew])
    return np.array(values)


# --- the classifier -------------------------------------------------------------------------------


def _design(features: np.ndarray) -> np.ndarray:
    x = np.array(features, dtype=np.float64, copy=True)
    for j, name in enumerate(STATISTICS[: x.shape[1]]):
        if name in _LOG_STATISTICS:
            x[:, j] = np.log1p(np.maximum(x[:, j], 0.0))
    return x


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iterations: int = 50) -> np.ndarray:
    """Class-balanced, L2-penalised logistic regression by Newton's method; returns [bias, weights...].

    `x` is standardised already; the bias is not penalised.
    """
    n, d = x.shape
    design = np.hstack([np.ones((n, 1)), x])
    positives = max(int(y.sum()), 1)
    negatives = max(n - int(y.sum()), 1)
    sample_weight = np.where(y == 1, n / (2 * positives), n / (2 * negatives))
    penalty = np.full(d + 1, l2)
    penalty[0] = 0.0
    beta = np.zeros(d + 1)
    for _ in range(iterations):
        z = np.clip(design @ beta, -35, 35)
        p = 1.0 / (1.0 + np.exp(-z))
        gradient = design.T @ (sample_weight * (p - y)) + penalty * beta
        hessian = (design * (sample_weight * p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        hessian[0, 0] += 1e-9
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def leave_one_out_scores(features: np.ndarray, labels: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """Each portrait's score (log-odds of real) from a model fitted on every other portrait."""
    x = _design(features)
    y = np.asarray(labels, dtype=np.float64)
    scores = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        mean = x[keep].mean(axis=0)
        std = x[keep].std(axis=0)
        std[std == 0] = 1.0
        beta = _fit_logistic((x[keep] - mean) / std, y[keep], l2)
        scores[i] = beta[0] + ((x[i] - mean) / std) @ beta[1:]
    return scores


def auc_with_interval(positive: np.ndarray, negative: np.ndarray, z: float = 1.959964) -> tuple[float, float, float]:
    """Mann-Whitney AUC (ties count 1/2) and DeLong's 95 % interval."""
    positive = np.asarray(positive, dtype=np.float64)
    negative = np.asarray(negative, dtype=np.float64)
    m, n = len(positive), len(negative)
    if m == 0 or n == 0:
        raise ValueError("the AUC needs at least one portrait of each kind")
    psi = (positive[:, None] > negative[None, :]) + 0.5 * (positive[:, None] == negative[None, :])
    auc = float(psi.mean())
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    variance = (v10.var(ddof=1) / m if m > 1 else 0.0) + (v01.var(ddof=1) / n if n > 1 else 0.0)
    half = z * float(np.sqrt(variance))
    return auc, max(0.0, auc - half), min(1.0, auc + half)


# --- pick rates in real-vs-synthetic questions ----------------------------------------------------


def _pick_weights(values: np.ndarray, rule: str) -> np.ndarray:
    """values: (questions, 4) with the real portrait in column 0; returns the chance each rule picks it
    (a tie is broken at random, so a tied real portrait counts 1 / number tied)."""
    if rule == "highest":
        target = values.max(axis=1, keepdims=True)
        chosen = values == target
    elif rule == "lowest":
        target = values.min(axis=1, keepdims=True)
        chosen = values == target
    elif rule == "odd one out":
        distance = np.abs(values - np.median(values, axis=1, keepdims=True))
        chosen = distance == distance.max(axis=1, keepdims=True)
    else:
        raise ValueError(rule)
    return chosen[:, 0] / chosen.sum(axis=1)


def draw_questions(
    real_groups: Sequence[str], synthetic_groups: Sequence[str], n_questions: int, seed: int
) -> np.ndarray:
    """(questions, 4) indices: column 0 a real portrait, columns 1-3 three distinct synthetic portraits
    of the same group (disorder). Groups with fewer than three synthetic portraits ask nothing."""
    synthetic_by_group: dict[str, list[int]] = defaultdict(list)
    for j, group in enumerate(synthetic_groups):
        synthetic_by_group[group].append(j)
    candidates = np.array([i for i, group in enumerate(real_groups) if len(synthetic_by_group[group]) >= 3], dtype=int)
    if not len(candidates):
        return np.empty((0, 4), dtype=int)
    rng = np.random.default_rng(seed)
    reals = rng.choice(candidates, size=n_questions)
    rows = np.empty((n_questions, 4), dtype=int)
    rows[:, 0] = reals
    groups = np.array([real_groups[i] for i in reals], dtype=object)
    for group, pool in synthetic_by_group.items():
        where = np.flatnonzero(groups == group)
        if len(where):
            picks = rng.random((len(where), len(pool))).argsort(axis=1)[:, :3]
            rows[where, 1:] = np.asarray(pool)[picks]
    return rows


def best_pick_rates(real: np.ndarray, synthetic: np.ndarray, questions: np.ndarray) -> list[tuple[str, float]]:
    """Per statistic: the rule that picks the real portrait most often in `questions`, and how often."""
    best = []
    for j in range(real.shape[1]):
        values = np.column_stack([real[questions[:, 0], j], synthetic[questions[:, 1:], j]])
        rates = {rule: float(_pick_weights(values, rule).mean()) for rule in PICK_RULES}
        rule = max(rates, key=rates.__getitem__)
        best.append((rule, rates[rule]))
    return best


def chance_best_pick_rate(
    real: np.ndarray,
    synthetic: np.ndarray,
    real_groups: Sequence[str],
    synthetic_groups: Sequence[str],
    n_questions: int,
    seed: int,
    permutations: int = 100,
) -> float:
    """The 95th percentile of the best statistic's best pick rate when the kinds are shuffled within each
    disorder: how high the worst case of `measure` reaches by chance alone, with as many portraits, 13
    statistics and three rules to choose from."""
    features = np.vstack([real, synthetic])
    groups = np.array(list(real_groups) + list(synthetic_groups), dtype=object)
    is_real = np.r_[np.ones(len(real), bool), np.zeros(len(synthetic), bool)]
    rng = np.random.default_rng(seed + 1)
    maxima = []
    for k in range(permutations):
        shuffled = is_real.copy()
        for group in set(groups):
            where = np.flatnonzero(groups == group)
            shuffled[where] = rng.permutation(shuffled[where])
        questions = draw_questions(list(groups[shuffled]), list(groups[~shuffled]), n_questions, seed + 2 + k)
        if len(questions):
            rates = best_pick_rates(features[shuffled], features[~shuffled], questions)
            maxima.append(max(rate for _, rate in rates))
    return float(np.percentile(maxima, 95)) if maxima else float("nan")


# --- the report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatisticRow:
    name: str
    auc_alone: float  # direction-free: max(AUC, 1 - AUC) of this statistic by itself
    pick_rule: str
    pick_rate: float  # share of real-vs-synthetic questions in which the rule picks the real portrait


@dataclass
class RealismReport:
    n_real: int
    n_synthetic: int
    auc: float
    ci_low: float
    ci_high: float
    n_questions: int
    statistics: list[StatisticRow] = field(default_factory=list)
    chance_best_pick_rate: float = float("nan")  # 95th percentile of the best pick rate, kinds shuffled

    @property
    def worst_statistic(self) -> StatisticRow | None:
        return max(self.statistics, key=lambda row: row.pick_rate, default=None)

    def summary(self) -> str:
        line = (
            f"pixel-statistics classifier, real vs synthetic: leave-one-out AUC {self.auc:.3f} "
            f"(95 % CI {self.ci_low:.3f}-{self.ci_high:.3f}; {self.n_real} real, {self.n_synthetic} synthetic)"
        )
        worst = self.worst_statistic
        if worst is not None and self.n_questions:
            line += (
                f"; best single statistic picks the real portrait in {worst.pick_rate:.0%} of "
                f"{self.n_questions} simulated questions ({worst.name}, {worst.pick_rule}; chance 25%"
            )
            if not np.isnan(self.chance_best_pick_rate):
                line += (
                    f", best of {len(self.statistics)} statistics x 3 rules by chance up to "
                    f"{self.chance_best_pick_rate:.0%}"
                )
            line += ")"
        return line

    def table(self) -> str:
        rows = [f"{'statistic':<20} {'AUC alone':>9} {'picks real':>10}  rule"]
        for row in sorted(self.statistics, key=lambda r: -r.pick_rate):
            rows.append(f"{row.name:<20} {row.auc_alone:>9.3f} {row.pick_rate:>10.1%}  {row.pick_rule}")
        return "\n".join(rows)

    def to_dict(self) -> dict:
        return asdict(self)


def measure_features(
    real: np.ndarray,
    synthetic: np.ndarray,
    real_groups: Sequence[str] | None = None,
    synthetic_groups: Sequence[str] | None = None,
    *,
    n_questions: int = 2000,
    seed: int = 0,
    l2: float = 1.0,
    permutations: int = 100,
) -> RealismReport:
    """The report from precomputed statistics: (n_real, len(STATISTICS)) and (n_synthetic, ...)."""
    if len(real) < 2 or len(synthetic) < 2:
        raise ValueError(f"need at least two real and two synthetic portraits (got {len(real)} and {len(synthetic)})")
    real = np.asarray(real, dtype=np.float64).reshape(len(real), -1)
    synthetic = np.asarray(synthetic, dtype=np.float64).reshape(len(synthetic), -1)
    features = np.vstack([real, synthetic])
    labels = np.r_[np.ones(len(real)), np.zeros(len(synthetic))]
    scores = leave_one_out_scores(features, labels, l2)
    auc, low, high = auc_with_interval(scores[: len(real)], scores[len(real) :])

    real_groups = list(real_groups) if real_groups is not None else [""] * len(real)
    synthetic_groups = list(synthetic_groups) if synthetic_groups is not None else [""] * len(synthetic)
    questions = draw_questions(real_groups, synthetic_groups, n_questions, seed)
    picks = best_pick_rates(real, synthetic, questions) if len(questions) else []
    rows = []
    for j, name in enumerate(STATISTICS):
        alone = auc_with_interval(real[:, j], synthetic[:, j])[0]
        rule, rate = picks[j] if picks else (PICK_RULES[0], float("nan"))
        rows.append(StatisticRow(name, max(alone, 1 - alone), rule, rate))
    chance = (
        chance_best_pick_rate(real, synthetic, real_groups, synthetic_groups, n_questions, seed, permutations)
        if len(questions) and permutations
        else float("nan")
    )
    return RealismReport(len(real), len(synthetic), auc, low, high, len(questions), rows, chance)


def measure(
    real: Sequence[Image.Image | np.ndarray],
    synthetic: Sequence[Image.Image | np.ndarray],
    real_groups: Sequence[str] | None = None,
    synthetic_groups: Sequence[str] | None = None,
    **options,
) -> RealismReport:
    """The report from images (PIL or HxWx3 uint8 arrays); groups are disorders (questions stay within one)."""
    return measure_features(
        np.array([features_of(image) for image in real]),
        np.array([features_of(image) for image in synthetic]),
        real_groups,
        synthetic_groups,
        **options,
    )
