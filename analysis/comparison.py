"""Two proportions (diagnosis on real vs synthetic portraits): difference and equivalence."""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats
from scipy.stats.contingency import odds_ratio

from .proportions import _check_counts
from .results import TestResult

__all__ = [
    "CONDITIONAL_CI_MAX_N",
    "chi2_two_proportions",
    "fisher_two_proportions",
    "tost_two_proportions",
    "tost_from_estimate",
]


def _table(count1: int, nobs1: int, count2: int, nobs2: int) -> np.ndarray:
    _check_counts(count1, nobs1)
    _check_counts(count2, nobs2)
    return np.array([[count1, nobs1 - count1], [count2, nobs2 - count2]], dtype=np.int64)


def chi2_two_proportions(
    count1: int, nobs1: int, count2: int, nobs2: int, correction: bool = True, conf_level: float = 0.95
) -> TestResult:
    """Pearson chi-square test that two proportions are equal (2x2 table).

    Parameters
    ----------
    count1, nobs1 : int
        Successes and trials of group 1 (in the report: real portraits).
    count2, nobs2 : int
        Successes and trials of group 2 (synthetic portraits).
    correction : bool
        Yates' continuity correction, the default of R's ``prop.test`` and
        ``chisq.test`` on a 2x2 table.
    conf_level : float
        Coverage of the Wald interval for ``p1 - p2`` (with the same continuity
        correction as R when ``correction``).

    Returns
    -------
    TestResult
        ``statistic`` is X-squared (1 df), ``estimate`` is ``p1 - p2``.
        ``extra["min_expected"]`` is the smallest expected count; below 5 a
        ``UserWarning`` says to trust Fisher's test instead.

    Notes
    -----
    R: ``prop.test(c(count1, count2), c(nobs1, nobs2), correct = correction)``,
    the same statistic as ``chisq.test(matrix(c(count1, nobs1 - count1, count2,
    nobs2 - count2), 2, byrow = TRUE))``.

    Examples
    --------
    >>> from analysis import chi2_two_proportions
    >>> r = chi2_two_proportions(132, 275, 133, 274)
    >>> round(r.statistic, 4), round(r.p_value, 4)
    (0.0017, 0.9671)
    """
    table = _table(count1, nobs1, count2, nobs2)
    if table.sum(axis=0).min() == 0:
        raise ValueError("all answers in both groups are correct (or all wrong): the chi-square test is undefined")
    n1, n2 = nobs1, nobs2
    pooled = (count1 + count2) / (n1 + n2)
    expected = np.outer([n1, n2], [pooled, 1 - pooled])
    if expected.min() < 5:
        warnings.warn(
            f"smallest expected count is {expected.min():.2f} < 5: the chi-square "
            "approximation may be poor; use Fisher's exact test",
            stacklevel=2,
        )
    p1, p2 = count1 / n1, count2 / n2
    delta = p1 - p2
    # In a 2x2 table |observed - expected| is the same in every cell; R and scipy
    # shrink it by at most 0.5 (never past zero).
    dev = abs(delta) / (1 / n1 + 1 / n2)
    yates = min(0.5, dev) if correction else 0.0
    chi2 = float(((dev - yates) ** 2 / expected).sum())
    p_value = float(stats.chi2.sf(chi2, 1))
    z = float(stats.norm.isf((1 - conf_level) / 2))
    width = z * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2) + yates * (1 / n1 + 1 / n2)
    ci = (max(delta - width, -1.0), min(delta + width, 1.0))
    method = (
        "Pearson's chi-squared test with Yates' continuity correction" if correction else "Pearson's chi-squared test"
    )
    return TestResult(
        statistic=chi2,
        p_value=p_value,
        ci=ci,
        n=int(n1 + n2),
        method=method,
        estimate=delta,
        conf_level=conf_level,
        extra={"p1": p1, "p2": p2, "min_expected": float(expected.min())},
    )


#: Above this many observations the exact conditional odds-ratio interval (minutes of
#: root-finding over the noncentral hypergeometric at 10^5 answers) is replaced by
#: Woolf's log-odds interval, indistinguishable from it at such sizes.
CONDITIONAL_CI_MAX_N = 20_000


def fisher_two_proportions(count1: int, nobs1: int, count2: int, nobs2: int, conf_level: float = 0.95) -> TestResult:
    """Fisher's exact test that two proportions are equal (2x2 table).

    Parameters
    ----------
    count1, nobs1, count2, nobs2 : int
        Successes and trials of the two groups.
    conf_level : float
        Coverage of the conditional interval for the odds ratio.

    Returns
    -------
    TestResult
        ``statistic`` and ``estimate`` are the conditional maximum-likelihood
        odds ratio and ``ci`` its exact conditional interval, as R reports them
        (not the sample odds ratio ``a*d/(b*c)``). Above
        ``CONDITIONAL_CI_MAX_N`` observations the interval is Woolf's
        (``extra["ci_method"]`` says which).

    Notes
    -----
    R: ``fisher.test(matrix(c(count1, nobs1 - count1, count2, nobs2 - count2),
    2, byrow = TRUE))``. The two-sided p-value sums the tables no more likely
    than the observed one, as R does.

    Examples
    --------
    R's tea-tasting example, 3 of 4 cups right in each half:

    >>> from analysis import fisher_two_proportions
    >>> round(fisher_two_proportions(3, 4, 1, 4).p_value, 4)
    0.4857
    """
    table = _table(count1, nobs1, count2, nobs2)
    p_value = float(stats.fisher_exact(table, alternative="two-sided").pvalue)
    ratio = odds_ratio(table, kind="conditional")
    if table.sum() <= CONDITIONAL_CI_MAX_N or (table == 0).any():
        ci = ratio.confidence_interval(confidence_level=conf_level)
        low, high, ci_method = float(ci.low), float(ci.high), "conditional (exact)"
    else:
        a, b, c, d = table.ravel().astype(float)
        half = float(stats.norm.isf((1 - conf_level) / 2)) * math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
        log_or = math.log(a * d / (b * c))
        low, high, ci_method = math.exp(log_or - half), math.exp(log_or + half), "Woolf"
    return TestResult(
        statistic=float(ratio.statistic),
        p_value=p_value,
        ci=(low, high),
        n=int(nobs1 + nobs2),
        method="Fisher's exact test",
        estimate=float(ratio.statistic),
        conf_level=conf_level,
        extra={"ci_method": ci_method},
    )


def tost_from_estimate(
    delta: float,
    se: float,
    margin: float,
    alpha: float = 0.05,
    n: int = 0,
    method: str = "TOST equivalence test (Wald)",
    df: float | None = None,
) -> TestResult:
    """Two one-sided z-tests (t-tests with ``df``) that a difference lies within ``±margin``.

    The building block of :func:`tost_two_proportions`, usable with any
    standard error (for example a participant-clustered one). R:
    ``max(pt((d - m) / se, df), pt(-(d + m) / se, df))`` (``pnorm`` without df).

    Examples
    --------
    >>> from analysis import tost_from_estimate
    >>> round(tost_from_estimate(0.0, 0.05, 0.10).p_value, 4)
    0.0228
    """
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin!r}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    if not se > 0:
        raise ValueError(f"standard error must be positive, got {se!r}")
    z_lower = (delta + margin) / se  # H0: delta <= -margin
    z_upper = (delta - margin) / se  # H0: delta >= +margin
    ref = stats.norm() if df is None else stats.t(df)
    p_lower = float(ref.sf(z_lower))
    p_upper = float(ref.cdf(z_upper))
    z = float(ref.isf(alpha))
    # The (1 - 2 alpha) interval lies inside the margins exactly when both tests reject.
    ci = (delta - z * se, delta + z * se)
    # Report the z of the test that decides (the one with the larger p-value).
    statistic = z_lower if p_lower >= p_upper else z_upper
    return TestResult(
        statistic=float(statistic),
        p_value=max(p_lower, p_upper),
        ci=ci,
        n=n,
        method=method,
        estimate=float(delta),
        alternative="equivalence",
        conf_level=1 - 2 * alpha,
        extra={
            "margin": float(margin),
            "se": float(se),
            "alpha": float(alpha),
            "z_lower": float(z_lower),
            "p_lower": p_lower,
            "z_upper": float(z_upper),
            "p_upper": p_upper,
            "equivalent": bool(max(p_lower, p_upper) < alpha),
            "df": df,
        },
    )


def tost_two_proportions(
    count1: int, nobs1: int, count2: int, nobs2: int, margin: float = 0.10, alpha: float = 0.05
) -> TestResult:
    """TOST equivalence test of two proportions within ``±margin``.

    "Experts diagnose synthetic portraits as well as real ones" is a claim of
    equivalence: it needs both one-sided tests (difference above ``-margin``,
    and below ``+margin``) to reject, not a difference test that fails to.

    Parameters
    ----------
    count1, nobs1 : int
        Group 1 (real portraits).
    count2, nobs2 : int
        Group 2 (synthetic portraits).
    margin : float
        Equivalence margin on the difference of proportions (0.10 = 10 points).
    alpha : float
        Level of each one-sided test; the matching interval has coverage
        ``1 - 2 alpha`` (90% for alpha = 0.05).

    Returns
    -------
    TestResult
        ``estimate`` is ``p1 - p2``; ``p_value`` is the larger of the two
        one-sided p-values; ``ci`` the ``1 - 2 alpha`` Wald interval;
        ``extra["equivalent"]`` is ``p_value < alpha``.

    Notes
    -----
    Unpooled Wald standard error ``sqrt(p1 q1 / n1 + p2 q2 / n2)``, z-tests
    ``(d + margin) / se`` and ``(d - margin) / se`` (Schuirmann 1987). R has no
    base function; the TOSTER package's ``twoprop_test(p1, p2, n1, n2,
    null = margin, alternative = "equivalence")`` computes the same Wald TOST.

    Examples
    --------
    >>> from analysis import tost_two_proportions
    >>> r = tost_two_proportions(132, 275, 133, 274, margin=0.10)
    >>> round(r.p_value, 4), r.extra["equivalent"]
    (0.0133, True)
    """
    _table(count1, nobs1, count2, nobs2)
    p1, p2 = count1 / nobs1, count2 / nobs2
    se = math.sqrt(p1 * (1 - p1) / nobs1 + p2 * (1 - p2) / nobs2)
    if se == 0:
        raise ValueError("both proportions are 0 or 1: the Wald standard error is zero")
    return tost_from_estimate(p1 - p2, se, margin, alpha, n=int(nobs1 + nobs2))
