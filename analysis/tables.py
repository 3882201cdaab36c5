"""The report's tables as tidy data frames: one row per observation, one column per variable.

``python -m analysis report --out-dir DIR`` writes each as ``OUT_<name>.csv`` for a
journal's supplement or for R (``read.csv``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .portraits import TABLE_COLUMNS

__all__ = ["PER_PORTRAIT_TABLE", "TABLE_NAMES", "report_tables"]

#: File name suffix of each table, in the order of the Markdown report.
TABLE_NAMES = (
    "table_accuracy",
    "table_estimands",
    "table_sensitivity",
    "table_diagnosis",
    "table_disorders",
    "table_response_times",
    "table_implausible_times",
)
#: Written only when the report was given the options export (``--options``).
PER_PORTRAIT_TABLE = "table_per_portrait"


def _ci(entry: dict[str, Any] | None, key: str = "ci95") -> tuple[Any, Any]:
    ci = (entry or {}).get(key)
    return (None, None) if not ci else (ci[0], ci[1])


def _accuracy(report: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for cat, e in report["categories"].items():
        b = e["binomial"]
        low, high = _ci(b)
        w_low, w_high = _ci(b, "ci95_wilson")
        rows.append(
            {
                "category": cat,
                "n_presented": e["n_presented"],
                "n_skipped": e["n_skipped"],
                "n_timeout": e["n_timeout"],
                "n_answered": e["n_answered"],
                "n_correct": e["n_correct"],
                "accuracy": e["accuracy"],
                "chance": e["chance"],
                "ci95_low_clopper_pearson": low,
                "ci95_high_clopper_pearson": high,
                "ci95_low_wilson": w_low,
                "ci95_high_wilson": w_high,
                "p_value": b["p_value"],
                "p_value_greater": b["p_value_greater"],
            }
        )
    return pd.DataFrame(rows)


def _estimands(report: dict[str, Any]) -> pd.DataFrame:
    """Each category under each analysis: naive, GEE, mixed model, bootstrap, sign flip."""
    rows = []
    for cat, e in report["categories"].items():
        analyses = [
            ("binomial (naive)", e["binomial"], e.get("accuracy"), "every answer independent"),
            ("GEE (bias-reduced)", e["clustered"], e["clustered"].get("estimate"), e["clustered"].get("reading")),
            ("random-intercept logistic", e["mixed"], e["mixed"].get("estimate"), e["mixed"].get("reading")),
            (
                "participant bootstrap",
                e["resampling"]["bootstrap"],
                e["resampling"]["bootstrap"].get("estimate"),
                "population average",
            ),
            (
                "participant sign flip",
                e["resampling"]["sign_flip"],
                e["resampling"]["sign_flip"].get("estimate"),
                "population average",
            ),
        ]
        for name, result, estimate, reading in analyses:
            low, high = _ci(result)
            rows.append(
                {
                    "category": cat,
                    "analysis": name,
                    "estimate": estimate,
                    "ci95_low": low,
                    "ci95_high": high,
                    "p_value": result.get("p_value"),
                    "reading": reading,
                    "method": result.get("method"),
                    "reason": result.get("reason"),
                }
            )
    return pd.DataFrame(rows)


def _sensitivity(report: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for cat, e in report["categories"].items():
        for variant, x in e.get("sensitivity", {}).items():
            if isinstance(x, dict):
                rows.append(
                    {
                        "category": cat,
                        "skips_and_timeouts": variant,
                        "n_answered": x["n_answered"],
                        "n_correct": x["n_correct"],
                        "accuracy": x["accuracy"],
                        "p_value": x["p_value"],
                    }
                )
    return pd.DataFrame(
        rows, columns=["category", "skips_and_timeouts", "n_answered", "n_correct", "accuracy", "p_value"]
    )


def _diagnosis(report: dict[str, Any]) -> pd.DataFrame:
    d = report["diagnosis_real_vs_synthetic"]
    rows: list[dict[str, Any]] = []
    if d.get("p_value") is None:
        return pd.DataFrame(
            rows, columns=["comparison", "estimate", "ci_low", "ci_high", "conf_level", "p_value", "method"]
        )

    def add(name: str, result: dict[str, Any] | None, ci_key: str = "ci") -> None:
        if result and result.get("p_value") is not None:
            low, high = _ci(result, ci_key)
            rows.append(
                {
                    "comparison": name,
                    "estimate": result.get("estimate", result.get("difference")),
                    "ci_low": low,
                    "ci_high": high,
                    "conf_level": result.get("conf_level", 0.95),
                    "p_value": result["p_value"],
                    "method": result.get("method"),
                }
            )

    add("difference (chi-square, Yates)", d["chi2_test"])
    add("difference (Fisher, odds ratio)", d["fisher"])
    add("equivalence (TOST)", d["tost"])
    clustered = d.get("clustered", {})
    add("difference, participant-clustered", clustered.get("difference"))
    add("equivalence (TOST), participant-clustered", clustered.get("tost"))
    adjusted = d.get("disorder_adjusted", {})
    add("difference, disorder-adjusted (Mantel-Haenszel)", adjusted.get("test"))
    add("equivalence (TOST), disorder-adjusted", adjusted.get("tost"))
    return pd.DataFrame(rows)


def report_tables(report: dict[str, Any], flagged: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the report as a tidy DataFrame, keyed by ``TABLE_NAMES``.

    With the options export (``build_report(..., options=...)``) the tables also hold
    ``PER_PORTRAIT_TABLE``: one row per portrait of the re-identification questions
    (``role`` member or non_member), as R's ``read.csv`` expects it.

    Parameters
    ----------
    report : dict
        From :func:`build_report`.
    flagged : pandas.DataFrame, optional
        ``implausible_times(df).flags``: the flagged questions, one row each.

    Examples
    --------
    >>> from analysis import load_export, build_report
    >>> from analysis.tables import report_tables
    >>> tables = report_tables(build_report(load_export("fixtures/paper_export.csv")))
    >>> tables["table_accuracy"][["category", "n_correct"]].to_dict("records")[0]
    {'category': 'real_vs_synthetic', 'n_correct': 177}
    """
    tables = {
        "table_accuracy": _accuracy(report),
        "table_estimands": _estimands(report),
        "table_sensitivity": _sensitivity(report),
        "table_diagnosis": _diagnosis(report),
        "table_disorders": pd.DataFrame(report["disorders"]),
        "table_response_times": pd.DataFrame(report["response_times"]),
        "table_implausible_times": (
            flagged
            if flagged is not None
            else pd.DataFrame(
                columns=[
                    "category",
                    "participant",
                    "session",
                    "position",
                    "outcome",
                    "correct",
                    "response_ms",
                    "time_limit_ms",
                    "too_fast",
                    "beyond_limit",
                ]
            )
        ),
    }
    per_portrait = report["categories"].get("reidentification", {}).get("privacy", {}).get("per_portrait")
    if per_portrait is not None:
        tables[PER_PORTRAIT_TABLE] = pd.DataFrame(per_portrait["table"], columns=list(TABLE_COLUMNS))
    return tables
