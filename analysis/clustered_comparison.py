"""Two accuracies compared on the same participants: the clustered difference and TOST.

The naive comparisons (chi-squared, Fisher, TOST on independent answers) are in
:mod:`analysis.comparison`; this module gives the same comparison with a
participant-clustered standard error, built on the checks and thresholds of
:mod:`analysis.clustered`.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats

from .clustered import DEGENERATE_DESIGN_EFFECT, MAX_LEVERAGE, MIN_PARTICIPANTS, SmallSample, _validate_counts
from .comparison import tost_from_estimate
from .results import NotTested, TestResult

__all__ = ["clustered_difference"]


def clustered_difference(
    counts1: pd.DataFrame,
    counts2: pd.DataFrame,
    margin: float = 0.10,
    alpha: float = 0.05,
    small_sample: SmallSample = "mancl-derouen",
) -> tuple[TestResult, TestResult] | NotTested:
    """Difference of two accuracies measured on the same participants, clustered.

    Parameters
    ----------
    counts1, counts2 : pandas.DataFrame
        Per-participant ``n`` and ``y`` for group 1 (real) and group 2
        (synthetic), indexed by participant; a participant may be missing
        from one of them.
    margin : float
        Equivalence margin for the TOST.
    alpha : float
        Level; the difference test is two-sided at ``alpha``, each TOST arm
        one-sided at ``alpha``.
    small_sample : {"mancl-derouen", "none"}
        As in :func:`gee_vs_chance`: bias-reduced variance and t on
        (participants - 1) df (default), or the plain sandwich with z.

    Returns
    -------
    (TestResult, TestResult) or NotTested
        The Wald test of ``p1 = p2`` and the TOST of ``|p1 - p2| < margin``,
        both with the participant-clustered (sandwich) standard error of
        ``p1 - p2``. ``extra["design_effect"]`` compares its variance with the
        naive binomial one.

    Notes
    -----
    This is GEE with an independence working correlation (logit link, group
    indicator): its estimates are the observed proportions and its robust
    variance is the sum over participants of the squared influence
    ``e1_i / N1 - e2_i / N2`` (``e_i`` = correct minus expected). An
    exchangeable working matrix would reweight participants and move the
    estimate away from the observed difference the claim is about. R:
    ``geepack::geeglm(correct ~ synthetic, id = participant, family =
    binomial, corstr = "independence")`` (then the delta method to the
    probability scale). With the group-mean parameterisation the hat matrix
    of participant ``i`` is block-diagonal with blocks ``J / N_g``, so the
    Mancl-DeRouen correction divides each residual sum ``e_gi`` by
    ``1 - n_gi / N_g`` (statsmodels ``cov_type="bias_reduced"``; R
    ``geesmv::GEE.var.md``).

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis import clustered_difference
    >>> real = pd.DataFrame({"n": [5] * 12, "y": [2, 3, 2, 1, 3, 2, 4, 2, 3, 2, 2, 3]})
    >>> synth = pd.DataFrame({"n": [5] * 12, "y": [3, 2, 2, 2, 3, 1, 3, 3, 2, 2, 3, 3]})
    >>> diff, tost = clustered_difference(real, synth)
    >>> round(diff.estimate, 3), round(diff.p_value, 3)
    (0.0, 1.0)
    """
    _validate_counts(counts1)
    _validate_counts(counts2)
    both = counts1.add_suffix("1").join(counts2.add_suffix("2"), how="outer").fillna(0)
    n1, y1 = both["n1"].to_numpy(dtype=float), both["y1"].to_numpy(dtype=float)
    n2, y2 = both["n2"].to_numpy(dtype=float), both["y2"].to_numpy(dtype=float)
    n_part = int(((n1 + n2) > 0).sum())
    total1, total2 = n1.sum(), n2.sum()
    corrected = small_sample == "mancl-derouen"
    method = (
        "Wald t test, participant-clustered bias-reduced SE (GEE independence, Mancl-DeRouen, participants - 1 df)"
        if corrected
        else "Wald test, participant-clustered SE (GEE independence)"
    )
    if n_part < MIN_PARTICIPANTS or total1 == 0 or total2 == 0:
        return NotTested(
            method,
            int(total1 + total2),
            f"{n_part} participant(s), {int(total1)} and {int(total2)} answers: a "
            f"clustered comparison needs at least {MIN_PARTICIPANTS} participants "
            "and answers in both groups",
        )
    p1, p2 = y1.sum() / total1, y2.sum() / total2
    if corrected and max((n1 / total1).max(), (n2 / total2).max()) > MAX_LEVERAGE:
        return NotTested(
            method,
            int(total1 + total2),
            "one participant gave almost all answers of a group; the bias-reduced variance is undefined",
        )
    h1, h2 = (n1 / total1, n2 / total2) if corrected else (0.0, 0.0)
    influence = (y1 - n1 * p1) / (total1 * (1 - h1)) - (y2 - n2 * p2) / (total2 * (1 - h2))
    se = math.sqrt(float((influence**2).sum()))
    naive_var = p1 * (1 - p1) / total1 + p2 * (1 - p2) / total2
    if se == 0 or naive_var == 0:
        return NotTested(method, int(total1 + total2), "no variation in the answers")
    if se * se / naive_var < DEGENERATE_DESIGN_EFFECT:
        return NotTested(
            method,
            int(total1 + total2),
            "the clustered variance is degenerate (every participant has the same accuracies)",
        )
    delta = float(p1 - p2)
    z = delta / se
    df = n_part - 1 if corrected else None
    ref = stats.t(df) if corrected else stats.norm()
    q = float(ref.isf(alpha / 2))
    extra = {
        "se": se,
        "naive_se": math.sqrt(naive_var),
        "design_effect": se * se / naive_var,
        "n_participants": n_part,
        "p1": p1,
        "p2": p2,
        "df": df,
    }
    diff = TestResult(
        statistic=z,
        p_value=float(2 * ref.sf(abs(z))),
        ci=(delta - q * se, delta + q * se),
        n=int(total1 + total2),
        method=method,
        estimate=delta,
        conf_level=1 - alpha,
        extra=extra,
    )
    tost = tost_from_estimate(
        delta,
        se,
        margin,
        alpha,
        n=int(total1 + total2),
        method="TOST equivalence test, participant-clustered SE" + (" (bias-reduced, t)" if corrected else ""),
        df=df,
    )
    tost.extra.update({k: v for k, v in extra.items() if k != "se"})
    return diff, tost
