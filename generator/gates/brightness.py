"""Brightness of portraits, and whether a gate passes dark and light portraits alike.

A gate that rejects dark faces more often than light ones skews the pool's skin tones away from
the real portraits', a cue in the real-vs-synthetic questions. Brightness here is the mean luma
(Rec. 601, of the gamma-encoded pixels, 0-255) of the central square of half the side, where the
face is, so the background weighs little. numpy only: fill_pool calls it on stored images.
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


@dataclass(frozen=True)
class BrightnessBias:
    """A gate's pass rate in each brightness quartile (darkest first) and whether they agree."""

    n: tuple[int, ...]  # portraits per quartile
    pass_rate: tuple[float, ...]  # share passing, per quartile (nan where a quartile is empty)
    edges: tuple[float, ...]  # the quartile boundaries in luma
    tolerance: float  # largest allowed difference between two quartiles' pass rates

    @property
    def spread(self) -> float:
        rates = [r for r in self.pass_rate if not np.isnan(r)]
        return max(rates) - min(rates) if rates else 0.0

    @property
    def within_tolerance(self) -> bool:
        return self.spread <= self.tolerance

    def line(self, what: str = "face gate") -> str:
        rates = " / ".join(f"{r:.3f}" for r in self.pass_rate)
        verdict = "within" if self.within_tolerance else "WARNING: BIASED BY BRIGHTNESS, differs by more than"
        return (
            f"{what} pass rate by brightness quartile, darkest to lightest: {rates} (n = "
            f"{', '.join(str(n) for n in self.n)}); spread {self.spread:.3f}, {verdict} the "
            f"tolerance {self.tolerance:g}"
        )


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
    return BrightnessBias(counts, rates, tuple(float(e) for e in edges), tolerance)


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
