"""What a coordinator's study dashboard shows: progress over time, outcomes per category, accuracy against
chance with intervals (computed by the analysis package, not re-derived here) and response times."""

from __future__ import annotations

import base64
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

import analysis
from survey import export, selectors
from survey.models import Study


@dataclass(frozen=True)
class CategoryRow:
    category: str
    presented: int
    answered: int
    skipped: int
    timed_out: int
    accuracy: float | None
    chance: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    median_response_ms: float | None


@dataclass
class Dashboard:
    progress: selectors.StudyProgress
    categories: list[CategoryRow] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    accuracy_png: str | None = None  # base64, for an <img src="data:...">
    timeline_png: str | None = None
    analysis_note: str | None = None


def _png_base64(draw) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "figure.png"
        draw(path)
        return base64.b64encode(path.read_bytes()).decode("ascii")


def _timeline(participants: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    started = pd.to_datetime(participants.started_at, utc=True).sort_values()
    finished = pd.to_datetime(participants.finished_at[participants.finished_at != ""], utc=True).sort_values()
    figure, axes = plt.subplots(figsize=(6.4, 2.6), dpi=100)
    axes.step(started, range(1, len(started) + 1), where="post", label="started")
    if len(finished):
        axes.step(finished, range(1, len(finished) + 1), where="post", label="finished")
    axes.set_ylabel("sessions")
    axes.legend(loc="upper left", frameon=False)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _category_rows(answers: pd.DataFrame, report: dict) -> list[CategoryRow]:
    answered = answers[answers.outcome == "answered"]
    medians = answered.groupby("category").response_ms.median()
    rows = []
    for category, entry in report["categories"].items():
        binomial = entry.get("binomial") or {}
        ci = binomial.get("ci95") or [None, None]
        rows.append(CategoryRow(
            category=category, presented=entry["n_presented"], answered=entry["n_answered"],
            skipped=entry["n_skipped"], timed_out=entry["n_timeout"], accuracy=entry.get("accuracy"),
            chance=entry["chance"], ci_low=ci[0], ci_high=ci[1], p_value=binomial.get("p_value"),
            median_response_ms=float(medians[category]) if category in medians.index else None,
        ))
    return rows


def study_dashboard(study: Study) -> Dashboard:
    dashboard = Dashboard(progress=selectors.study_progress(study))
    participants = export.participants_frame(study)
    if len(participants):
        dashboard.timeline_png = _png_base64(lambda path: _timeline(participants, path))
    answers = export.answers_frame(study)
    if not (answers.outcome == "answered").any():
        dashboard.analysis_note = "No answers yet: accuracy and tests appear once participants have answered."
        return dashboard
    try:
        frame = analysis.load_export(answers)
        report = analysis.build_report(frame)
    except ValueError as error:  # too few answers for a category, or a contract breach worth seeing
        dashboard.analysis_note = f"The analysis could not run on the answers so far: {error}"
        return dashboard
    numeric = answers.assign(response_ms=pd.to_numeric(answers.response_ms, errors="coerce"))
    dashboard.categories = _category_rows(numeric, report)
    dashboard.findings = list(report.get("findings", []))
    dashboard.accuracy_png = _png_base64(lambda path: analysis.accuracy_figure(report, path))
    return dashboard
