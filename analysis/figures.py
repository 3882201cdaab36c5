"""Figures of the report: the paper's Fig. 4 (chance vs observed) and response times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["accuracy_figure", "response_time_figure"]

_LABELS = {
    "real_vs_synthetic": "1. Find the real\nportrait",
    "reidentification": "2. Find the training\nmember",
    "diagnosis": "3. Name the\ndisorder",
}
# Paper's colour code: original images black, generated images blue.
_REAL, _SYNTH, _CHANCE = "#222222", "#1f77b4", "#d62728"


def _save(fig, path: Path) -> None:
    # SVG keeps its text as text, so a journal's editor can restyle the labels.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "analysis"}):
        fig.savefig(path, dpi=110)
    plt.close(fig)


def _point(ax, x: float, entry: dict[str, Any], color: str, label: str | None) -> None:
    acc, ci = entry.get("accuracy"), entry["binomial"].get("ci95")
    clustered = entry.get("clustered", {}).get("ci95")
    if acc is not None and clustered is not None:
        # The participant-clustered interval in full colour, the naive one lighter beside it.
        # Beside, not behind: a clustered interval is usually the wider one.
        ax.errorbar(
            [x + 0.12],
            [acc],
            yerr=[[acc - ci[0]], [ci[1] - acc]],
            fmt="none",
            color=color,
            alpha=0.3,
            capsize=3,
            elinewidth=4,
        )
        ci = clustered
    if acc is None or ci is None:
        ax.annotate("no answers", (x, 0.02), ha="center", fontsize=8)
        return
    ax.errorbar(
        [x], [acc], yerr=[[acc - ci[0]], [ci[1] - acc]], fmt="o", color=color, capsize=5, markersize=7, label=label
    )
    ax.annotate(f"{100 * acc:.1f}%", (x, ci[1] + 0.02), ha="center", fontsize=9)


def accuracy_figure(report: dict[str, Any], path: str | Path) -> Path:
    """Chance vs observed accuracy per category (95% Clopper-Pearson), and real vs synthetic.

    Parameters
    ----------
    report : dict
        From :func:`build_report`.
    path : path
        File to write; the format follows its suffix (``.png``, ``.svg``, ``.pdf``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from analysis import load_export, build_report, accuracy_figure
    >>> r = build_report(load_export("fixtures/paper_export.csv"))
    >>> out = accuracy_figure(r, pathlib.Path(tempfile.mkdtemp()) / "fig.png")
    >>> out.stat().st_size > 0
    True
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    cats = list(report["categories"])
    for i, cat in enumerate(cats):
        entry = report["categories"][cat]
        left.hlines(
            entry["chance"], i - 0.3, i + 0.3, color=_CHANCE, linestyle="--", label="chance" if i == 0 else None
        )
        _point(left, i, entry, _REAL, "observed (95% CI; clustered dark, naive light)" if i == 0 else None)
        headline = entry.get("headline", {"analysis": "binomial", "p_value": entry["binomial"].get("p_value")})
        p = headline["p_value"]
        if p is not None:
            which = " (clustered)" if headline["analysis"] == "clustered" else ""
            left.annotate(f"p = {p:.2g}{which}", (i, 0.93), ha="center", fontsize=8)
    left.set_xticks(range(len(cats)), [_LABELS.get(c, c) for c in cats], fontsize=9)
    left.set_xlim(-0.6, len(cats) - 0.4)
    left.set_ylim(0, 1)
    left.set_ylabel("accuracy (answered questions)")
    left.set_title("Observed vs chance, per category", fontsize=10)
    left.legend(loc="upper left", fontsize=8, frameon=False, bbox_to_anchor=(0, 0.93))
    diag = report["diagnosis_real_vs_synthetic"]
    if "real" in diag:
        for i, (kind, color) in enumerate((("real", _REAL), ("synthetic", _SYNTH))):
            right.hlines(diag[kind]["chance"], i - 0.3, i + 0.3, color=_CHANCE, linestyle="--")
            _point(right, i, diag[kind], color, None)
        right.set_xticks([0, 1], ["real\nportraits", "synthetic\nportraits"], fontsize=9)
        tost = diag.get("tost")
        if tost:
            m = tost["extra"]["margin"]
            head = diag.get("headline_tost", {"analysis": "naive", "p_value": tost["p_value"]})
            which = " (clustered)" if head["analysis"] == "clustered" else ""
            right.set_title(f"Diagnosis: TOST ±{100 * m:.0f} pts p = {head['p_value']:.2g}{which}", fontsize=10)
    else:
        right.set_title("Diagnosis: no data", fontsize=10)
    right.set_xlim(-0.6, 1.6)
    right.set_ylim(0, 1)
    fig.tight_layout()
    path = Path(path)
    _save(fig, path)
    return path


def response_time_figure(report: dict[str, Any], path: str | Path) -> Path:
    """Box plots of response time per category and result, from the report's quartiles.

    Drawn from summary statistics (``ax.bxp``), so it costs the same for 10^3
    or 10^6 answers. Whiskers show min and max; each box carries its
    category's time limit (solid red), limit + grace (dotted) and the
    plausibility floor (dashed grey). The format follows the file's suffix
    (``.png``, ``.svg``, ``.pdf``).
    """
    rows = report["response_times"]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    stats = [
        {
            "label": f"{r['category'].replace('_', ' ')}\n{r['result']} (n={r['n']})",
            "med": r["median"],
            "q1": r["q1"],
            "q3": r["q3"],
            "whislo": r["min"],
            "whishi": r["max"],
            "mean": r["mean"],
            "fliers": [],
        }
        for r in rows
    ]
    if stats:
        ax.bxp(stats, showmeans=True, showfliers=False)
        ax.tick_params(axis="x", labelsize=7)
    limits = report.get("time_limits_ms", {})
    times = report.get("implausible_times", {})
    grace, floor = times.get("grace_ms"), times.get("min_response_ms")
    for i, r in enumerate(rows, start=1):
        limit = limits.get(r["category"])
        if limit is None:
            continue
        # Each box gets its own category's limit: categories may have different clocks.
        ax.hlines(limit, i - 0.4, i + 0.4, color=_CHANCE, linewidth=1.5, label="time limit" if i == 1 else "_nolegend_")
        if grace:
            ax.hlines(
                limit + grace,
                i - 0.4,
                i + 0.4,
                color=_CHANCE,
                linewidth=1,
                linestyle=":",
                label="limit + grace" if i == 1 else "_nolegend_",
            )
    if floor and stats:
        ax.axhline(floor, color="#7f7f7f", linewidth=1, linestyle="--", label=f"plausibility floor ({floor:g} ms)")
    if limits and stats:
        top = max(limits.values()) + (grace or 0)
        ax.set_ylim(0, 1.2 * max(top, max(r["max"] for r in rows)))  # room for the legend
        ax.legend(loc="upper right", fontsize=7, frameon=False, ncol=3)
    ax.set_ylabel("response time (ms)")
    ax.set_title("Response times (timeouts excluded)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    _save(fig, path)
    return path
