"""Brightness of portraits, and whether a gate passes dark and light portraits alike.

A gate that rejects dark faces more often than light ones skews the pool's skin tones away from
the real portraits', a cue in the real-vs-synthetic questions. Brightness here is the mean luma
(Rec. 601, of the gamma-encoded pixels, 0-255) of the central square of half the side, where the
face is, so the background weighs little. numpy only: fill_pool calls it on stored images.

A spread of pass rates above the tolerance is flagged only when chance alone rarely gives one as
large. With a few dozen portraits per quartile and pass rates near 1, four quartiles' rates differ
by more than 0.05 in over a third of pools with no bias at all (n = 48 each, 97 % passing), so a bare
threshold on the observed spread warned on many fair pools. The p-value is a permutation test: the
same outcomes shuffled over the same portraits, the quartile sizes and the number passing kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114])
QUARTILES = ("darkest", "2nd", "3rd", "lightest")


def luminance(images: np.ndarray) -> np.ndarray:
    """NHWC uint8 RGB -> [N] mean luma of each image's central square (half the side)."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected NHWC RGB images, got shape {images.shape}")
    h, w = images.shape[1:3]
    centre = images[:, h // 4 : h - h // 4, w // 4 : w - w // 4].astype(np.float64)
    return (centre @ _LUMA).mean(axis=(1, 2))


def quartile_edges(values: np.ndarray) -> np.ndarray:
    """The three inner quartile boundaries (25th, 50th, 75th percentiles)."""
    if len(values) == 0:
        raise ValueError("quartiles of an empty set of portraits")
    return np.quantile(np.asarray(values, dtype=np.float64), [0.25, 0.5, 0.75])


def quartile_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """0 (darkest quarter) .. 3 (lightest) for each value, by the given edges."""
    return np.searchsorted(edges, np.asarray(values, dtype=np.float64), side="right")


CHANCE_ALPHA = 0.05  # a spread is beyond chance when shuffled outcomes reach it less often than this
PERMUTATIONS = 4000  # the p-value's Monte Carlo standard error at 0.05 is about 0.003
_PERMUTATION_SEED = 20240601  # fixed: the same pool gets the same verdict on every run


@dataclass(frozen=True)
class BrightnessBias:
    """A gate's pass rate in each brightness quartile (darkest first) and whether they agree."""

    n: tuple[int, ...]  # portraits per quartile
    pass_rate: tuple[float, ...]  # share passing, per quartile (nan where a quartile is empty)
    edges: tuple[float, ...]  # the quartile boundaries in luma
    tolerance: float  # largest allowed difference between two quartiles' pass rates
    p_value: float  # how often outcomes unrelated to brightness give a spread at least as large

    @property
    def spread(self) -> float:
        return _spread(np.array(self.pass_rate, dtype=np.float64)[None, :])[0]

    @property
    def biased(self) -> bool:
        """The rates differ by more than the tolerance, and by more than chance explains."""
        return self.spread > self.tolerance and self.p_value < CHANCE_ALPHA

    def line(self, what: str = "face gate") -> str:
        rates = " / ".join(f"{r:.3f}" for r in self.pass_rate)
        if self.spread <= self.tolerance:
            verdict = f"within the tolerance {self.tolerance:g}"
        elif self.biased:
            verdict = (
                f"WARNING: BIASED BY BRIGHTNESS, differs by more than the tolerance {self.tolerance:g} "
                f"(p = {self.p_value:.3f} that chance alone gives as large a spread)"
            )
        else:
            verdict = (
                f"above the tolerance {self.tolerance:g} but within chance (p = {self.p_value:.2f}: "
                "portraits whose outcomes are unrelated to brightness spread as much that often)"
            )
        return (
            f"{what} pass rate by brightness quartile, darkest to lightest: {rates} (n = "
            f"{', '.join(str(n) for n in self.n)}); spread {self.spread:.3f}, {verdict}"
        )


def _spread(rates: np.ndarray) -> np.ndarray:
    """Largest minus smallest rate of each row, empty quartiles (nan) left out; 0 with none."""
    present = ~np.isnan(rates)
    if not present.any():
        return np.zeros(len(rates))
    highest = np.where(present, rates, -np.inf).max(axis=1)
    lowest = np.where(present, rates, np.inf).min(axis=1)
    return np.where(present.any(axis=1), highest - lowest, 0.0)


def spread_p_value(index: np.ndarray, passed: np.ndarray, observed: float, permutations: int = PERMUTATIONS) -> float:
    """Permutation p-value of a spread of pass rates across quartiles: the share of shuffles of
    `passed` over the portraits (quartile `index` kept) whose spread reaches `observed`, counting
    the observed arrangement as one of them, so it is never 0."""
    counts = np.bincount(index, minlength=4).astype(np.float64)
    if passed.all() or not passed.any() or (counts > 0).sum() < 2:
        return 1.0  # every arrangement is the observed one
    members = np.eye(4)[index]  # [N, 4]: which quartile each portrait is in
    rng = np.random.default_rng(_PERMUTATION_SEED)
    at_least, epsilon = 0, 1e-12  # rates are ratios of small integers: compare with a hair's room
    for start in range(0, permutations, 500):
        shuffled = rng.permuted(np.tile(passed.astype(np.float64), (min(500, permutations - start), 1)), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = (shuffled @ members) / counts
        at_least += int((_spread(rates) >= observed - epsilon).sum())
    return (at_least + 1) / (permutations + 1)


def brightness_bias(
    values: np.ndarray, passed: np.ndarray, tolerance: float, edges: np.ndarray | None = None
) -> BrightnessBias:
    """Pass rates of `passed` (bool [N]) per quartile of `values` (luma [N]); quartiles of
    `values` themselves unless `edges` are given (e.g. the real portraits' quartiles)."""
    values, passed = np.asarray(values, dtype=np.float64), np.asarray(passed, dtype=bool)
    if values.shape != passed.shape:
        raise ValueError(f"{values.shape} brightness values but {passed.shape} outcomes")
    edges = quartile_edges(values) if edges is None else np.asarray(edges, dtype=np.float64)
    index = quartile_index(values, edges)
    counts = tuple(int((index == q).sum()) for q in range(4))
    rates = tuple(float(passed[index == q].mean()) if counts[q] else float("nan") for q in range(4))
    observed = float(_spread(np.array(rates)[None, :])[0])
    p_value = spread_p_value(index, passed, observed)
    return BrightnessBias(counts, rates, tuple(float(e) for e in edges), tolerance, p_value)


def distribution_line(values: np.ndarray) -> str:
    """min / quartiles / max of luma values, for a report."""
    if len(values) == 0:
        return "none"
    q = np.quantile(np.asarray(values, dtype=np.float64), [0, 0.25, 0.5, 0.75, 1])
    return f"luma min {q[0]:.1f}, quartiles {q[1]:.1f} / {q[2]:.1f} / {q[3]:.1f}, max {q[4]:.1f}"


def share_by_quartile(values: np.ndarray, edges: np.ndarray) -> tuple[float, ...]:
    """Share of `values` in each quartile defined by `edges` (0.25 each when they match)."""
    index = quartile_index(values, edges)
    n = max(len(index), 1)
    return tuple(float((index == q).sum()) / n for q in range(4))
