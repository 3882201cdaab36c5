"""Real vs synthetic adjusted for disorder: Mantel-Haenszel difference, CMH test, stratified TOST."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .comparison import tost_from_estimate
from .results import NotTested, TestResult

__all__ = ["mantel_haenszel_difference"]


def mantel_haenszel_difference(
    strata: pd.DataFrame, margin: float = 0.10, alpha: float = 0.05
) -> tuple[TestResult, TestResult] | NotTested:
    """Difference of two accuracies within strata (disorders), pooled by Mantel-Haenszel.

    When real and synthetic portraits come in different disorder mixes, the
    crude difference mixes the disorders' difficulty into the comparison; the
    Mantel-Haenszel difference compares like with like.

    Parameters
    ----------
    strata : pandas.DataFrame
        One row per stratum: ``y1, n1`` (group 1 correct, answered; real) and
        ``y2, n2`` (group 2; synthetic). Strata lacking one group carry no
        information and are dropped.
    margin, alpha : float
        Equivalence margin and level of the stratified TOST (each arm
        one-sided at ``alpha``); the difference's interval has ``1 - alpha``.

    Returns
    -------
    (TestResult, TestResult) or NotTested
        The Mantel-Haenszel risk difference with Sato's variance (Wald
        interval) and the Cochran-Mantel-Haenszel p-value (continuity-corrected,
        as R's default); ``extra`` holds the MH common odds ratio and its
        interval (statsmodels ``StratifiedTable``). Then the TOST of
        ``|difference| < margin`` with Sato's standard error.

    Notes
    -----
    R: ``mantelhaen.test(xtabs(~ kind + correct + disorder))`` for the test and
    odds ratio; ``metafor::rma.mh(ai = y1, n1i = n1, ci = y2, n2i = n2,
    measure = "RD")`` for the difference and its (Sato / Greenland-Robins)
    variance.

    Examples
    --------
    Equal accuracy within each disorder, different mixes of disorders:

    >>> import pandas as pd
    >>> from analysis import mantel_haenszel_difference
    >>> strata = pd.DataFrame({"y1": [80, 5], "n1": [100, 50], "y2": [8, 50], "n2": [10, 500]})
    >>> diff, tost = mantel_haenszel_difference(strata)
    >>> round(diff.estimate, 3), round(float(strata.y1.sum() / 150 - strata.y2.sum() / 510), 3)
    (0.0, 0.453)
    """
    from statsmodels.stats.contingency_tables import StratifiedTable

    method = "Mantel-Haenszel difference (Sato variance), CMH test"
    keep = strata[(strata["n1"] > 0) & (strata["n2"] > 0)]
    a, n1 = keep["y1"].to_numpy(float), keep["n1"].to_numpy(float)
    c, n0 = keep["y2"].to_numpy(float), keep["n2"].to_numpy(float)
    total = int(n1.sum() + n0.sum())
    if len(keep) == 0:
        return NotTested(method, total, "no stratum has answers on both kinds of portrait")
    big_n = n1 + n0
    w = n1 * n0 / big_n
    rd = float(((a * n0 - c * n1) / big_n).sum() / w.sum())
    p_sato = ((n1**2 * c - n0**2 * a + n1 * n0 * (n0 - n1) / 2) / big_n**2).sum()
    q_sato = ((a * (n0 - c) + c * (n1 - a)) / (2 * big_n)).sum()
    var = (rd * p_sato + q_sato) / w.sum() ** 2
    if not var > 0:
        return NotTested(method, total, "no variation in correctness within the strata")
    se = math.sqrt(var)
    tables = np.stack([np.stack([a, n1 - a], 1), np.stack([c, n0 - c], 1)], 1)
    table = StratifiedTable(np.moveaxis(tables, 0, -1))
    informative = (tables.sum(axis=1) > 0).all(axis=1).any()  # some stratum varies
    if informative:
        cmh = table.test_null_odds(correction=True)
        statistic, p_value = float(cmh.statistic), float(cmh.pvalue)
    else:
        statistic, p_value = math.nan, math.nan
    extra: dict[str, Any] = {"se": se, "n_strata": len(keep), "n_strata_dropped": int(len(strata) - len(keep))}
    try:
        extra["odds_ratio_mh"] = float(table.oddsratio_pooled)
        extra["odds_ratio_ci"] = [float(x) for x in table.oddsratio_pooled_confint(alpha)]
    except (ZeroDivisionError, FloatingPointError, ValueError):
        pass
    q = float(stats.norm.isf(alpha / 2))
    diff = TestResult(
        statistic=statistic,
        p_value=p_value,
        ci=(rd - q * se, rd + q * se),
        n=total,
        method=method,
        estimate=rd,
        conf_level=1 - alpha,
        extra=extra,
    )
    tost = tost_from_estimate(
        rd, se, margin, alpha, n=total, method="TOST equivalence test, disorder-stratified (MH, Sato SE)"
    )
    return diff, tost
