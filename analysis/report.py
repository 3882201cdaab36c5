"""The full report: every test of the study from one export, as a JSON-ready dict.

:func:`build_report` checks the export holds one study, then gathers the entries: one per
category (:mod:`analysis.report_categories`), the real-vs-synthetic diagnosis comparison
(:mod:`analysis.report_diagnosis`), the exclusions, disorders and response times
(:mod:`analysis.summary`), and the findings to read first. :func:`render_markdown`
(:mod:`analysis.report_markdown`) turns the dict into Markdown.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .bootstrap import DEFAULT_BOOTSTRAP_SEED
from .equivalence_power import MARGIN_RATIONALE
from .errors import ExportError
from .report_categories import _category_entry, _per_portrait
from .report_common import _records
from .report_diagnosis import _diagnosis_entry
from .summary import (
    MIN_ANSWERS,
    category_summary,
    disorder_breakdown,
    exclusion_summary,
    response_time_summary,
)
from .timing import DEFAULT_GRACE_MS, DEFAULT_MIN_RESPONSE_MS, implausible_times

__all__ = ["build_report"]


def build_report(
    df: pd.DataFrame,
    margin: float = 0.10,
    alpha: float = 0.05,
    min_answers: int = MIN_ANSWERS,
    margin_source: str | None = None,
    min_response_ms: float = DEFAULT_MIN_RESPONSE_MS,
    grace_ms: float = DEFAULT_GRACE_MS,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
    options: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Run every test of the study on a validated export.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`load_export`; one study.
    margin : float
        Equivalence margin for real vs synthetic diagnosis accuracy (0.10 = ±10 points).
    alpha : float
        Level of every test.
    min_answers : int
        Fewer answers than this in a group: counts and a reason, no p-value.
    margin_source : str, optional
        Where the margin came from, printed beside it (default: the documented
        default and its rationale, ``MARGIN_RATIONALE``).
    min_response_ms, grace_ms : float
        Answers faster than ``min_response_ms`` or slower than the time limit
        plus ``grace_ms`` are flagged and counted (never dropped).
    seed : int
        Seed of the participant-level bootstrap and sign-flip test.
    options : pandas.DataFrame, optional
        The item-level export from :func:`analysis.options.load_options`, from
        the same export as ``df``. Given, the re-identification privacy entry
        gains ``per_portrait`` (:func:`per_portrait_reidentification`); its
        re-identification questions and choices must match ``df``'s.

    Returns
    -------
    dict
        JSON-ready (no NaN; ``None`` where a number does not exist). Holds the
        docs/exports.md keys ``categories`` and ``diagnosis_real_vs_synthetic`` and
        adds ``exclusions``, clustered analyses, ``disorders``,
        ``response_times`` and ``findings`` (plain sentences).

    Raises
    ------
    ExportError
        When the export holds more than one study, or a category mixes option counts,
        or ``options`` does not match the answers (another study, other questions,
        other choices).

    Examples
    --------
    >>> from analysis import load_export, build_report
    >>> r = build_report(load_export("fixtures/paper_export.csv"))
    >>> f"{r['categories']['real_vs_synthetic']['binomial']['p_value']:.2g}"
    '1.9e-05'
    >>> round(r['categories']['reidentification']['binomial']['p_value'], 3)
    0.889
    """
    if not 0 < margin < 1:
        raise ValueError(f"margin must lie in (0, 1), got {margin!r}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    studies = df["study"].unique()
    if len(studies) > 1:
        second = int(np.flatnonzero(df["study"].to_numpy() != studies[0])[0]) + 1
        names = ", ".join(map(str, studies[:5]))
        raise ExportError(
            f"the export holds {len(studies)} studies ({names}); the report covers one: choose it with --study",
            column="study",
            row=second,
        )
    findings: list[str] = []
    answered = df[df["outcome"] == "answered"]
    times = implausible_times(df, min_response_ms, grace_ms)
    categories = {}
    for cat, row in category_summary(df).iterrows():
        rows = answered[answered["category"] == cat]
        flagged = times.flags[times.flags["category"] == cat]
        categories[cat] = _category_entry(row, rows, alpha, min_answers, findings, cat, seed, flagged)
    if options is not None and "privacy" in categories.get("reidentification", {}):
        per_portrait = _per_portrait(df, options, str(studies[0]), alpha, findings)
        categories["reidentification"]["privacy"]["per_portrait"] = per_portrait
    timing = times.summary()
    if timing["n_too_fast"] or timing["n_beyond_limit"]:
        findings.append(
            f"response times: {timing['n_too_fast']} answer(s) faster than "
            f"{min_response_ms:g} ms and {timing['n_beyond_limit']} later than the time limit "
            f"plus {grace_ms:g} ms grace; they are counted in the tests (flagged, not "
            "dropped); the sensitivity table shows each category without them."
        )
    report: dict[str, Any] = {
        "study": str(studies[0]),
        "n_participants": int(df["participant"].nunique()),
        "alpha": alpha,
        "margin": margin,
        "margin_source": margin_source or MARGIN_RATIONALE,
        "exclusions": exclusion_summary(df),
        "implausible_times": timing,
        # The largest limit per category: what the response-time figure draws.
        "time_limits_ms": {
            str(c): int(v) for c, v in df.groupby("category", sort=False)["time_limit_ms"].max().items()
        },
        "categories": categories,
        "diagnosis_real_vs_synthetic": _diagnosis_entry(
            df, answered, margin, alpha, min_answers, findings, margin_source
        ),
        "disorders": _records(disorder_breakdown(df, min_answers)),
        "response_times": _records(response_time_summary(df)),
        "findings": findings,
    }
    return _json_safe(report)


def _json_safe(value: Any) -> Any:
    """Plain Python types, NaN and infinities as None, so json.dump(allow_nan=False) works."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    return value
