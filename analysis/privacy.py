"""Re-identification per expert: exact binomial against chance, Holm across experts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .multiplicity import holm_adjusted
from .proportions import _check_probability

__all__ = ["per_expert_vs_chance"]


def per_expert_vs_chance(counts: pd.DataFrame, chance: float, alpha: float = 0.05) -> pd.DataFrame:
    """Each expert's accuracy against chance: exact one-sided binomial, Holm-adjusted.

    A privacy claim about the average expert can hide a few who re-identify
    everything; this asks of each expert whether they beat chance.

    Parameters
    ----------
    counts : pandas.DataFrame
        Per-expert ``n`` and ``y`` (see :func:`participant_counts`).
    chance : float
        Accuracy under guessing.
    alpha : float
        Family-wise level across experts.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``counts``: ``n``, ``y``, ``accuracy``, ``excess``
        (accuracy minus chance), ``p_value`` (exact, ``alternative =
        "greater"``), ``p_holm`` (Holm over the experts with answers) and
        ``above_chance`` (``p_holm < alpha``).

    Notes
    -----
    R: ``p.adjust(mapply(function(y, n) binom.test(y, n, chance,
    alternative = "greater")$p.value, y, n), "holm")``.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis import per_expert_vs_chance
    >>> counts = pd.DataFrame({"n": [10] * 24, "y": [10, 10, 10] + [3] * 21})
    >>> table = per_expert_vs_chance(counts, 1 / 3)
    >>> int(table["above_chance"].sum()), round(float(table["excess"].max()), 3)
    (3, 0.667)
    """
    _check_probability(chance, "chance")
    active = counts[counts["n"] > 0]
    n = active["n"].to_numpy(dtype=np.int64)
    y = active["y"].to_numpy(dtype=np.int64)
    p = stats.binom.sf(y - 1, n, chance)  # P(Y >= y): exact one-sided p-value
    holm = holm_adjusted(p)
    return pd.DataFrame(
        {
            "n": n,
            "y": y,
            "accuracy": y / n,
            "excess": y / n - chance,
            "p_value": p,
            "p_holm": holm,
            "above_chance": holm < alpha,
        },
        index=active.index,
    )
