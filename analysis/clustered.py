"""Participant-clustered accuracy against chance: GEE, design effect, excess bound.

Also what every participant-level analysis shares: per-participant counts
(:func:`participant_counts`), their check, and the smallest number of participants.
The clustered difference of two accuracies is in :mod:`analysis.clustered_comparison`.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from .results import NotTested, TestResult

__all__ = [
    "participant_counts",
    "gee_vs_chance",
    "clustered_excess_bound",
    "MIN_PARTICIPANTS",
    "GEE_STATSMODELS_MAX_ROWS",
]

#: Fewer participants than this and a sandwich variance is too unstable to report.
MIN_PARTICIPANTS = 10
#: Up to this many answers ``engine="auto"`` fits with statsmodels' GEE itself;
#: above it, the exact per-participant closed form (same numbers, tested) is used.
GEE_STATSMODELS_MAX_ROWS = 20_000


def participant_counts(participant, correct) -> pd.DataFrame:
    """Answers and correct answers per participant.

    Parameters
    ----------
    participant : array-like
        Participant id per answered question.
    correct : array-like of 0/1
        Whether each answer was correct.

    Returns
    -------
    pandas.DataFrame
        Indexed by participant, columns ``n`` and ``y``.

    Examples
    --------
    >>> from analysis import participant_counts
    >>> participant_counts(["a", "a", "b"], [1, 0, 1]).to_dict("index")
    {'a': {'n': 2, 'y': 1}, 'b': {'n': 1, 'y': 1}}
    """
    frame = pd.DataFrame({"participant": np.asarray(participant), "correct": np.asarray(correct, dtype=float)})
    if frame["correct"].isna().any() or not frame["correct"].isin((0.0, 1.0)).all():
        raise ValueError("correct must hold only 0 and 1 (answered questions only)")
    grouped = frame.groupby("participant", sort=True)["correct"].agg(["size", "sum"])
    return pd.DataFrame({"n": grouped["size"].astype(np.int64), "y": grouped["sum"].astype(np.int64)})


def _exchangeable_gee(
    n: np.ndarray, y: np.ndarray, tol: float = 1e-12, max_iter: int = 200
) -> tuple[float, float, float, float]:
    """Intercept-only logit GEE, exchangeable correlation, from per-cluster counts.

    With only an intercept, 1 is an eigenvector of the exchangeable matrix, so
    the estimating equation reduces to a weighted mean with cluster weights
    ``1 / (1 + (n_i - 1) rho)``, and statsmodels' moment estimator of ``rho``
    depends on each cluster only through ``(n_i, y_i)``. Returns
    ``(mu, rho, se_logit, se_logit_md)``: the robust (sandwich) standard error
    and its Mancl-DeRouen bias-reduced version. The cluster's hat matrix is
    rank one here, so ``(I - H_i)^-1`` acts on its score as ``1 / (1 - h_i)``
    with leverage ``h_i = w_i n_i / sum(w n)`` (its share of the bread).
    """
    total = n.sum()
    n_pairs = float((n * (n - 1) / 2).sum())
    mu = y.sum() / total
    rho = 0.0
    # A correlation below -1/(n_max - 1) makes the working matrix singular.
    rho_floor = -1.0 / (n.max() - 1) + 1e-9 if n.max() > 1 else 0.0
    for _ in range(max_iter):
        w = 1.0 / (1.0 + (n - 1) * rho)
        mu_new = float((w * y).sum() / (w * n).sum())
        v = mu_new * (1.0 - mu_new)
        ssr = (y * (1 - mu_new) ** 2 + (n - y) * mu_new**2) / v
        s = (y - n * mu_new) / math.sqrt(v)
        scale = ssr.sum() / (total - 1)  # ddof = 1 mean parameter, as statsmodels
        if n_pairs > 1:
            rho_new = float(((s * s - ssr) / 2).sum() / scale / (n_pairs - 1))
            rho_new = max(rho_new, rho_floor)
        else:
            rho_new = 0.0
        done = abs(mu_new - mu) < tol and abs(rho_new - rho) < tol
        mu, rho = mu_new, rho_new
        if done:
            break
    w = 1.0 / (1.0 + (n - 1) * rho)
    e = y - n * mu
    bread = mu * (1 - mu) * (w * n).sum()
    meat = (w * w * e * e).sum()
    leverage = w * n / (w * n).sum()
    meat_md = (w * w * e * e / (1 - leverage) ** 2).sum()
    return mu, rho, math.sqrt(meat) / bread, math.sqrt(meat_md) / bread


def _statsmodels_gee(counts: pd.DataFrame) -> tuple[float, float, float, float]:
    import statsmodels.api as sm

    rows = np.repeat(np.arange(len(counts)), counts["n"].to_numpy())
    # Rebuild 0/1 answers: within a participant their order does not matter here.
    pos = np.arange(len(rows)) - np.repeat(
        np.cumsum(counts["n"].to_numpy()) - counts["n"].to_numpy(), counts["n"].to_numpy()
    )
    endog = (pos < np.repeat(counts["y"].to_numpy(), counts["n"].to_numpy())).astype(float)
    model = sm.GEE(
        endog,
        np.ones((len(endog), 1)),
        groups=rows,
        family=sm.families.Binomial(),
        cov_struct=sm.cov_struct.Exchangeable(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(ctol=1e-10, maxiter=200, cov_type="bias_reduced")
    beta = float(fit.params[0])
    return (
        1 / (1 + math.exp(-beta)),
        float(model.cov_struct.dep_params),
        float(np.sqrt(fit.cov_robust[0, 0])),
        float(np.sqrt(fit.cov_robust_bc[0, 0])),
    )


#: Below this design effect the clustered variance is degenerate (every participant
#: scored the same accuracy): a sandwich of zero residuals, not evidence of precision.
DEGENERATE_DESIGN_EFFECT = 1e-6
#: A participant holding this share of the weight makes the bias-reduced variance blow up.
MAX_LEVERAGE = 0.99
SmallSample = Literal["mancl-derouen", "none"]


def gee_vs_chance(
    counts: pd.DataFrame,
    chance: float,
    conf_level: float = 0.95,
    engine: Literal["auto", "closed-form", "statsmodels"] = "auto",
    small_sample: SmallSample = "mancl-derouen",
) -> TestResult | NotTested:
    """Accuracy against chance with answers clustered by participant (GEE).

    Parameters
    ----------
    counts : pandas.DataFrame
        Per-participant ``n`` (answers) and ``y`` (correct), as from
        :func:`participant_counts`.
    chance : float
        Accuracy under guessing.
    conf_level : float
        Coverage of the interval for the marginal accuracy.
    engine : {"auto", "closed-form", "statsmodels"}
        ``"statsmodels"`` fits ``statsmodels.GEE`` on the 0/1 answers;
        ``"closed-form"`` solves the same estimating equations from the
        per-participant counts (identical numbers, milliseconds on 10^6 rows);
        ``"auto"`` uses statsmodels up to ``GEE_STATSMODELS_MAX_ROWS`` answers.
    small_sample : {"mancl-derouen", "none"}
        ``"mancl-derouen"`` (default): bias-reduced sandwich variance and a t
        reference on (participants - 1) degrees of freedom, which keeps the
        false-positive rate near ``1 - conf_level`` with 10-20 participants.
        ``"none"``: the plain sandwich and a normal reference (geepack's and
        statsmodels' default), anti-conservative with few participants.

    Returns
    -------
    TestResult or NotTested
        ``estimate`` is the marginal accuracy (population-averaged: the
        accuracy of an answer from a randomly chosen expert), ``statistic``
        the robust Wald t (or z) of ``logit(accuracy) = logit(chance)`` and
        ``p_value`` its two-sided p-value; ``ci`` back-transformed from the
        logit scale. ``extra`` holds ``icc`` (the exchangeable correlation),
        ``design_effect`` (robust variance over binomial variance),
        ``effective_n``, ``n_participants``, ``df`` (None for a normal
        reference), ``logit`` and ``logit_se``. ``NotTested`` when fewer than
        ``MIN_PARTICIPANTS`` participants answered, or when the clustered
        variance is degenerate (every participant with the same accuracy).

    Notes
    -----
    R: ``geepack::geeglm(correct ~ 1, id = participant, family = binomial,
    corstr = "exchangeable")``; the bias-reduced variance is
    ``geesmv::GEE.var.md`` (Mancl and DeRouen 2001), statsmodels'
    ``GEE.fit(cov_type="bias_reduced")``; then
    ``2 * pt(-abs(t), df = K - 1)``.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis import gee_vs_chance
    >>> counts = pd.DataFrame({"n": [10] * 12, "y": [2, 3, 5, 1, 2, 4, 3, 2, 6, 3, 2, 3]})
    >>> r = gee_vs_chance(counts, 0.25)
    >>> round(r.estimate, 3), round(r.p_value, 3), r.extra["df"]
    (0.3, 0.242, 11)
    >>> round(gee_vs_chance(counts, 0.25, small_sample="none").p_value, 3)
    0.177
    """
    _validate_counts(counts)
    if small_sample not in ("mancl-derouen", "none"):
        raise ValueError(f"small_sample must be 'mancl-derouen' or 'none', got {small_sample!r}")
    n_part = int((counts["n"] > 0).sum())
    total = int(counts["n"].sum())
    method = (
        "GEE (logit, exchangeable correlation, Mancl-DeRouen bias-reduced SE, t on participants - 1 df)"
        if small_sample == "mancl-derouen"
        else "GEE (logit, exchangeable correlation, robust SE)"
    )
    if n_part < MIN_PARTICIPANTS:
        return NotTested(
            method,
            total,
            f"only {n_part} participant(s) answered; a clustered analysis needs at least {MIN_PARTICIPANTS}",
        )
    y_sum = int(counts["y"].sum())
    if y_sum in (0, total):
        return NotTested(
            method, total, "every answer is correct (or every answer wrong): the logit model has no finite estimate"
        )
    use_sm = engine == "statsmodels" or (engine == "auto" and total <= GEE_STATSMODELS_MAX_ROWS)
    if engine not in ("auto", "closed-form", "statsmodels"):
        raise ValueError(f"engine must be 'auto', 'closed-form' or 'statsmodels', got {engine!r}")
    active = counts[counts["n"] > 0]
    n_arr = active["n"].to_numpy(dtype=float)
    if use_sm:
        mu, rho, se_plain, se_md = _statsmodels_gee(active)
    else:
        mu, rho, se_plain, se_md = _exchangeable_gee(n_arr, active["y"].to_numpy(dtype=float))
    corrected = small_sample == "mancl-derouen"
    se = se_md if corrected else se_plain
    deff = (mu * (1 - mu) * se) ** 2 / (mu * (1 - mu) / total)
    w = 1.0 / (1.0 + (n_arr - 1) * rho)
    if not math.isfinite(se) or deff < DEGENERATE_DESIGN_EFFECT:
        return NotTested(
            method,
            total,
            "the clustered variance is degenerate (every "
            "participant has the same accuracy, so the sandwich estimate is "
            "zero); no clustered test or interval can be given",
        )
    if corrected and (w * n_arr / (w * n_arr).sum()).max() > MAX_LEVERAGE:
        return NotTested(
            method, total, "one participant carries almost all the weight; the bias-reduced variance is undefined"
        )
    beta = math.log(mu / (1 - mu))
    stat = (beta - math.log(chance / (1 - chance))) / se
    df = n_part - 1 if corrected else None
    ref = stats.t(df) if corrected else stats.norm()
    p_value = float(2 * ref.sf(abs(stat)))
    q = float(ref.isf((1 - conf_level) / 2))
    ci = (_expit(beta - q * se), _expit(beta + q * se))
    return TestResult(
        statistic=float(stat),
        p_value=p_value,
        ci=ci,
        n=total,
        method=method,
        estimate=float(mu),
        conf_level=conf_level,
        extra={
            "chance": float(chance),
            "icc": float(rho),
            "design_effect": float(deff),
            "effective_n": float(total / deff),
            "n_participants": n_part,
            "df": df,
            "logit": beta,
            "logit_se": float(se),
            "logit_se_uncorrected": float(se_plain),
            "small_sample": small_sample,
            "engine": "statsmodels" if use_sm else "closed-form",
        },
    )


def clustered_excess_bound(result: TestResult, conf_level: float = 0.95) -> float:
    """One-sided upper confidence bound on accuracy minus chance, from a clustered fit.

    Parameters
    ----------
    result : TestResult
        From :func:`gee_vs_chance`.
    conf_level : float
        One-sided coverage.

    Returns
    -------
    float
        ``expit(logit + q * se) - chance`` with ``q`` the one-sided t (or
        normal) quantile the fit used.

    Notes
    -----
    R: ``plogis(coef(fit) + qt(conf_level, K - 1) * se_md) - chance`` on the
    geeglm fit with the Mancl-DeRouen standard error.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis import gee_vs_chance, clustered_excess_bound
    >>> counts = pd.DataFrame({"n": [10] * 12, "y": [2, 3, 5, 1, 2, 4, 3, 2, 6, 3, 2, 3]})
    >>> round(clustered_excess_bound(gee_vs_chance(counts, 1 / 3)), 3)
    0.048
    """
    df = result.extra["df"]
    q = float(stats.t.isf(1 - conf_level, df) if df else stats.norm.isf(1 - conf_level))
    return _expit(result.extra["logit"] + q * result.extra["logit_se"]) - result.extra["chance"]


def _validate_counts(counts: pd.DataFrame) -> None:
    if not {"n", "y"} <= set(counts.columns):
        raise ValueError("counts needs columns 'n' and 'y' (see participant_counts)")
    if ((counts["y"] < 0) | (counts["y"] > counts["n"])).any():
        raise ValueError("each participant's y must lie in [0, n]")


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
