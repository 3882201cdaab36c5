"""Counts, accuracies, per-disorder tests and response times from a loaded export."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from .errors import ExportError
from .export import CATEGORIES
from .multiplicity import holm_adjusted

__all__ = [
    "MIN_ANSWERS",
    "category_summary",
    "kind_summary",
    "exclusion_summary",
    "disorder_breakdown",
    "response_time_summary",
    "category_chance",
]

#: Below this many answers a test's p-value says more about noise than about experts;
#: the report gives the counts and this reason instead.
MIN_ANSWERS = 10

_COUNT_COLUMNS = ["n_presented", "n_skipped", "n_timeout", "n_answered", "n_correct"]


def _counts(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    outcome = df["outcome"].to_numpy()
    frame = pd.DataFrame(
        {
            **{b: df[b].to_numpy() for b in by},
            "n_presented": 1,
            "n_skipped": (outcome == "skipped").astype(np.int64),
            "n_timeout": (outcome == "timeout").astype(np.int64),
            "n_answered": (outcome == "answered").astype(np.int64),
            "n_correct": np.nan_to_num(df["correct"].to_numpy(), nan=0.0).astype(np.int64),
        }
    )
    out = frame.groupby(by, sort=False, observed=True)[_COUNT_COLUMNS].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["accuracy"] = out["n_correct"] / out["n_answered"].where(out["n_answered"] > 0)
    return out


def category_chance(df: pd.DataFrame) -> pd.Series:
    """Chance rate per category, checking it is one number per category.

    Raises
    ------
    ExportError
        When one category carries two ``n_options`` values: a single
        binomial test against chance would then be wrong. The message names the
        first row that differs.
    """
    chance = {}
    for cat, rows in df.groupby("category", sort=False)["n_options"]:
        first = rows.iat[0]
        differs = rows.to_numpy() != first
        if differs.any():
            row = int(rows.index[np.flatnonzero(differs)[0]]) + 1
            raise ExportError(
                f"category {cat!r} mixes n_options {first} and "
                f"{rows.to_numpy()[differs][0]}; its accuracy cannot be tested "
                "against one chance rate",
                column="n_options",
                row=row,
            )
        chance[cat] = 1.0 / first
    return pd.Series(chance, name="chance")


def category_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Presented, skipped, timed-out, answered and correct counts per category.

    Parameters
    ----------
    df : pandas.DataFrame
        A validated export (see :func:`load_export`).

    Returns
    -------
    pandas.DataFrame
        Indexed by category in the paper's order, columns ``n_presented,
        n_skipped, n_timeout, n_answered, n_correct, accuracy, chance``.
        Accuracy is correct / answered: skips and timeouts are excluded from
        the denominator, as the paper does.

    Notes
    -----
    R: ``aggregate(cbind(answered, correct) ~ category, data, sum)``.

    Examples
    --------
    >>> from analysis import load_export, category_summary
    >>> df = load_export("fixtures/paper_export.csv")
    >>> category_summary(df)[["n_presented", "n_answered", "n_correct"]]
                       n_presented  n_answered  n_correct
    category
    real_vs_synthetic          620         531        177
    reidentification           620         523        176
    diagnosis                  620         549        265
    """
    out = _counts(df, ["category"])
    out["chance"] = category_chance(df)
    order = [c for c in CATEGORIES if c in out.index]
    return out.loc[order]


def kind_summary(df: pd.DataFrame, category: str = "diagnosis") -> pd.DataFrame:
    """The counts of :func:`category_summary` split by ``stimulus_kind`` within a category.

    Examples
    --------
    >>> from analysis import load_export, kind_summary
    >>> kind_summary(load_export("fixtures/paper_export.csv"))[["n_answered", "n_correct"]]
                   n_answered  n_correct
    stimulus_kind
    real                  275        132
    synthetic             274        133
    """
    sub = df[df["category"] == category]
    out = _counts(sub, ["stimulus_kind"])
    return out.sort_index()


def exclusion_summary(df: pd.DataFrame) -> dict[str, int]:
    """Answers presented, skipped, timed out and analysed, over all categories.

    Examples
    --------
    >>> from analysis import load_export, exclusion_summary
    >>> exclusion_summary(load_export("fixtures/paper_export.csv"))
    {'n_presented': 1860, 'n_skipped': 106, 'n_timeout': 151, 'n_analysed': 1603}
    """
    outcome = df["outcome"]
    return {
        "n_presented": int(len(df)),
        "n_skipped": int((outcome == "skipped").sum()),
        "n_timeout": int((outcome == "timeout").sum()),
        "n_analysed": int((outcome == "answered").sum()),
    }


def disorder_breakdown(df: pd.DataFrame, min_answers: int = MIN_ANSWERS) -> pd.DataFrame:
    """Accuracy per category and disorder, tested against chance, with multiplicity control.

    Parameters
    ----------
    df : pandas.DataFrame
        A validated export.
    min_answers : int
        Disorders with fewer answers get counts but no p-value.

    Returns
    -------
    pandas.DataFrame
        One row per (category, disorder): counts, ``accuracy``, ``chance``,
        ``p_value`` (exact two-sided binomial), ``p_holm`` and ``p_bh``
        (Holm and Benjamini-Hochberg adjusted within each category), and
        ``reason`` where no test was run.

    Notes
    -----
    R: ``p.adjust(p, "holm")`` and ``p.adjust(p, "BH")`` on the per-disorder
    ``binom.test`` p-values of one category.

    Examples
    --------
    >>> from analysis import load_export, disorder_breakdown
    >>> table = disorder_breakdown(load_export("fixtures/paper_export.csv"))
    >>> bool((table["p_holm"].dropna() >= table["p_value"].dropna()).all())
    True
    """
    counts = _counts(df, ["category", "disorder"]).reset_index()
    chance = category_chance(df)
    counts["chance"] = counts["category"].map(chance)
    counts["p_value"] = np.nan
    counts["p_holm"] = np.nan
    counts["p_bh"] = np.nan
    counts["reason"] = ""
    too_few = counts["n_answered"] < min_answers
    counts.loc[too_few, "reason"] = f"fewer than {min_answers} answers"
    for i in np.flatnonzero(~too_few.to_numpy()):
        row = counts.iloc[i]
        counts.iat[i, counts.columns.get_loc("p_value")] = stats.binomtest(
            int(row["n_correct"]), int(row["n_answered"]), float(row["chance"])
        ).pvalue
    for _category, idx in counts.groupby("category", sort=False).groups.items():
        p = counts.loc[idx, "p_value"]
        tested = p.notna()
        if tested.any():
            counts.loc[p.index[tested], "p_holm"] = holm_adjusted(p[tested].to_numpy())
            counts.loc[p.index[tested], "p_bh"] = multipletests(p[tested], method="fdr_bh")[1]
    order = {c: i for i, c in enumerate(CATEGORIES)}
    counts = counts.sort_values(
        ["category", "disorder"], key=lambda s: s.map(order) if s.name == "category" else s, kind="stable"
    )
    return counts.reset_index(drop=True)


def response_time_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Response times (ms) per category and outcome: correct, wrong, skipped.

    Timeouts have no response time by contract and are left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``category, result, n, mean, q1, median, q3, min, max``.

    Notes
    -----
    R: ``aggregate(response_ms ~ category + result, data, quantile)``.

    Examples
    --------
    >>> from analysis import load_export, response_time_summary
    >>> t = response_time_summary(load_export("fixtures/paper_export.csv"))
    >>> sorted(t["result"].unique())
    ['correct', 'skipped', 'wrong']
    """
    timed = df[df["outcome"] != "timeout"]
    result = np.where(
        timed["outcome"].to_numpy() == "skipped",
        "skipped",
        np.where(timed["correct"].to_numpy() == 1, "correct", "wrong"),
    )
    frame = pd.DataFrame(
        {"category": timed["category"].to_numpy(), "result": result, "ms": timed["response_ms"].to_numpy()}
    )
    grouped = frame.groupby(["category", "result"], sort=False)["ms"]
    quant = grouped.quantile([0.25, 0.5, 0.75]).unstack()
    out = pd.DataFrame(
        {
            "n": grouped.size(),
            "mean": grouped.mean(),
            "q1": quant[0.25],
            "median": quant[0.5],
            "q3": quant[0.75],
            "min": grouped.min(),
            "max": grouped.max(),
        }
    ).reset_index()
    order = {c: i for i, c in enumerate(CATEGORIES)}
    out["_c"] = out["category"].map(order)
    return out.sort_values(["_c", "result"]).drop(columns="_c").reset_index(drop=True)
