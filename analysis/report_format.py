"""Numbers as the report's text prints them: p-values, percentages, points, intervals.

The Markdown (:mod:`analysis.report_markdown`) uses them all; the diagnosis entry's
quotable sentence (:mod:`analysis.report_diagnosis`) uses :func:`_pct_label` too, so
the two label an interval's coverage alike.
"""

from __future__ import annotations


def _pct_label(conf_level: float) -> str:
    return f"{100 * conf_level:.10g}%"


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "—"
    if p == 0:
        return "< 1e-300"  # below double precision; the exact value is smaller still
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def _fmt_pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _fmt_pts(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:+.1f}"


def _fmt_ci(ci) -> str:
    return "—" if ci is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
