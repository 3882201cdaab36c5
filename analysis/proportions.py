"""One proportion against chance: exact binomial test, intervals, excess bound."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy import stats

from .results import TestResult

__all__ = ["binomial_vs_chance", "proportion_ci", "excess_over_chance_bound"]

Alternative = Literal["two-sided", "greater", "less"]
_ALTERNATIVES = ("two-sided", "greater", "less")


def _check_counts(count: int, nobs: int) -> None:
    if int(count) != count or int(nobs) != nobs:
        raise ValueError(f"count and nobs must be whole numbers, got {count!r} and {nobs!r}")
    if nobs < 1:
        raise ValueError(f"nobs must be at least 1, got {nobs}")
    if not 0 <= count <= nobs:
        raise ValueError(f"count must lie in [0, nobs={nobs}], got {count}")


def _check_probability(value: float, name: str) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")


def proportion_ci(
    count: int,
    nobs: int,
    conf_level: float = 0.95,
    method: Literal["clopper-pearson", "wilson"] = "clopper-pearson",
    alternative: Alternative = "two-sided",
) -> tuple[float, float]:
    """Confidence interval for a binomial proportion.

    Parameters
    ----------
    count, nobs : int
        Successes and trials.
    conf_level : float
        Coverage, e.g. 0.95.
    method : {"clopper-pearson", "wilson"}
        ``"clopper-pearson"`` is the exact interval from beta quantiles;
        ``"wilson"`` is the score interval without continuity correction.
    alternative : {"two-sided", "greater", "less"}
        ``"greater"`` gives a one-sided lower bound ``(lo, 1)``, ``"less"`` a
        one-sided upper bound ``(0, hi)``.

    Returns
    -------
    tuple of float
        ``(lower, upper)``.

    Notes
    -----
    R: ``binom.test(count, nobs)$conf.int`` (Clopper-Pearson) and
    ``prop.test(count, nobs, correct = FALSE)$conf.int`` (Wilson).

    Examples
    --------
    >>> from analysis import proportion_ci
    >>> [round(x, 4) for x in proportion_ci(177, 531)]
    [0.2933, 0.3752]
    >>> [round(x, 4) for x in proportion_ci(177, 531, method="wilson")]
    [0.2946, 0.3745]
    """
    _check_counts(count, nobs)
    _check_probability(conf_level, "conf_level")
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    tail = 1.0 - conf_level if alternative != "two-sided" else (1.0 - conf_level) / 2
    if method == "clopper-pearson":
        lo = 0.0 if count == 0 else float(stats.beta.ppf(tail, count, nobs - count + 1))
        hi = 1.0 if count == nobs else float(stats.beta.isf(tail, count + 1, nobs - count))
    elif method == "wilson":
        z = float(stats.norm.isf(tail))
        p = count / nobs
        centre = (p + z * z / (2 * nobs)) / (1 + z * z / nobs)
        half = z / (1 + z * z / nobs) * math.sqrt(p * (1 - p) / nobs + z * z / (4 * nobs * nobs))
        lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    else:
        raise ValueError(f"method must be 'clopper-pearson' or 'wilson', got {method!r}")
    if alternative == "greater":
        return lo, 1.0
    if alternative == "less":
        return 0.0, hi
    return lo, hi


def binomial_vs_chance(
    count: int, nobs: int, chance: float, alternative: Alternative = "two-sided", conf_level: float = 0.95
) -> TestResult:
    """Exact binomial test of an accuracy against the chance rate.

    Parameters
    ----------
    count : int
        Correct answers.
    nobs : int
        Answered questions (skips and timeouts excluded).
    chance : float
        Accuracy under guessing, ``1 / n_options``.
    alternative : {"two-sided", "greater", "less"}
        ``"greater"`` asks whether experts beat chance.
    conf_level : float
        Coverage of the Clopper-Pearson interval, which follows ``alternative``
        as in R (one-sided alternatives give one-sided intervals).

    Returns
    -------
    TestResult
        ``statistic`` is the number correct, ``estimate`` the accuracy,
        ``extra["chance"]`` the null value.

    Notes
    -----
    R: ``binom.test(count, nobs, p = chance, alternative = ...)``. The two-sided
    p-value sums the probabilities of all outcomes no more likely than the one
    observed (with R's relative tolerance of 1e-7), which is what both R and
    ``scipy.stats.binomtest`` do; it is not twice the one-sided p-value.

    Examples
    --------
    The paper's category 1 (177 of 531 correct, chance 1/4):

    >>> from analysis import binomial_vs_chance
    >>> r = binomial_vs_chance(177, 531, 0.25)
    >>> f"{r.p_value:.2e}", round(r.estimate, 3)
    ('1.91e-05', 0.333)
    """
    _check_counts(count, nobs)
    _check_probability(chance, "chance")
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    res = stats.binomtest(int(count), int(nobs), chance, alternative=alternative)
    ci = proportion_ci(count, nobs, conf_level, "clopper-pearson", alternative)
    return TestResult(
        statistic=float(count),
        p_value=float(res.pvalue),
        ci=ci,
        n=int(nobs),
        method="Exact binomial test",
        estimate=count / nobs,
        alternative=alternative,
        conf_level=conf_level,
        extra={"chance": float(chance)},
    )


def excess_over_chance_bound(count: int, nobs: int, chance: float, conf_level: float = 0.95) -> TestResult:
    """One-sided upper confidence bound on accuracy above chance.

    A privacy claim ("experts re-identified training members at most X points
    above chance") needs an upper bound, not a non-significant test: a small
    study fails to reject almost anything.

    Parameters
    ----------
    count, nobs : int
        Correct answers and answered questions.
    chance : float
        Accuracy under guessing.
    conf_level : float
        One-sided coverage, e.g. 0.95.

    Returns
    -------
    TestResult
        ``estimate`` is accuracy minus chance; ``ci`` is ``(-chance, upper)``
        where ``upper`` is the one-sided Clopper-Pearson upper bound minus
        chance; ``p_value`` is the exact one-sided p-value for "accuracy
        above chance" (``binom.test(..., alternative = "greater")``).

    Notes
    -----
    R: ``binom.test(count, nobs, p = chance, alternative = "less",
    conf.level = conf_level)$conf.int[2] - chance``.

    Examples
    --------
    >>> from analysis import excess_over_chance_bound
    >>> r = excess_over_chance_bound(176, 523, 1 / 3)
    >>> round(100 * r.ci[1], 1)   # at most this many points above chance
    3.9
    """
    _check_counts(count, nobs)
    _check_probability(chance, "chance")
    _, hi = proportion_ci(count, nobs, conf_level, "clopper-pearson", "less")
    p_greater = float(stats.binomtest(int(count), int(nobs), chance, alternative="greater").pvalue)
    return TestResult(
        statistic=float(count),
        p_value=p_greater,
        ci=(-chance, hi - chance),
        n=int(nobs),
        method="One-sided Clopper-Pearson upper bound on excess over chance",
        estimate=count / nobs - chance,
        alternative="greater",
        conf_level=conf_level,
        extra={"chance": float(chance), "upper_accuracy": hi},
    )


def _binomial_pvalues_two_sided(nobs: int, p0: float) -> np.ndarray:
    """Two-sided exact p-value (R's rule) for every count 0..nobs at once."""
    pmf = stats.binom.pmf(np.arange(nobs + 1), nobs, p0)
    order = np.sort(pmf)
    cum = np.cumsum(order)
    # p(k) = sum of pmf[j] with pmf[j] <= pmf[k] * (1 + 1e-7), as binom.test does.
    idx = np.searchsorted(order, pmf * (1 + 1e-7), side="right")
    return np.minimum(1.0, cum[idx - 1])
