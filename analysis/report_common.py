"""What the report's category and diagnosis entries share: counts, tests and results as dicts.

:mod:`analysis.report_categories` and :mod:`analysis.report_diagnosis` build their
entries from these pieces, so that a count, a binomial test or a fitted model reads the
same wherever the report shows it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .proportions import binomial_vs_chance, proportion_ci
from .results import NotTested, TestResult

#: What the GEE estimate means, in words a reader can quote.
GEE_READING = "population average: the accuracy of a random answer from a random expert, from the GEE"


def _counts_dict(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {k: int(row[k]) for k in ("n_presented", "n_skipped", "n_timeout", "n_answered", "n_correct")}
    out["accuracy"] = None if out["n_answered"] == 0 else out["n_correct"] / out["n_answered"]
    return out


def _binomial_dict(k: int, n: int, chance: float, min_answers: int) -> dict[str, Any]:
    if n == 0:
        return {
            "p_value": None,
            "p_value_greater": None,
            "ci95": None,
            "reason": "no answered questions (all skipped or timed out)",
        }
    ci = list(proportion_ci(k, n))
    if n < min_answers:
        return {
            "p_value": None,
            "p_value_greater": None,
            "ci95": ci,
            "ci95_wilson": list(proportion_ci(k, n, method="wilson")),
            "reason": f"only {n} answered question(s); at least {min_answers} are needed "
            "before a p-value means anything",
        }
    two = binomial_vs_chance(k, n, chance)
    greater = binomial_vs_chance(k, n, chance, alternative="greater")
    return {
        "p_value": two.p_value,
        "p_value_greater": greater.p_value,
        "ci95": ci,
        "ci95_wilson": list(proportion_ci(k, n, method="wilson")),
        "statistic": two.statistic,
        "method": two.method,
    }


def _significant(p: float | None, alpha: float) -> bool | None:
    return None if p is None else p < alpha


def _with_ci95(result: TestResult | NotTested, reading: str | None = None) -> dict[str, Any]:
    """A result's dict with ``ci95`` beside ``ci`` and, if given, what its estimate means."""
    out = result.to_dict()
    if isinstance(result, TestResult):
        out["ci95"] = list(result.ci)
    if reading:
        out["reading"] = reading
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")
