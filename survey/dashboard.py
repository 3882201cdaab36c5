"""What a coordinator's study dashboard shows: progress over time, outcomes per category, accuracy against
chance with intervals (computed by the analysis package, not re-derived here) and response times."""

from __future__ import annotations

import base64
import hashlib
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
from django.core.cache import cache
from django.db.models import Count, F, Max, Q

import analysis
from survey import export, selectors
from survey.models import Answer, Category, Job, Option, Outcome, Portrait, Question, ShownImage, Study

CACHE_SECONDS = 24 * 3600  # a stale entry is never read (its key names what it was built from); this only frees memory


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
        rows.append(
            CategoryRow(
                category=category,
                presented=entry["n_presented"],
                answered=entry["n_answered"],
                skipped=entry["n_skipped"],
                timed_out=entry["n_timeout"],
                accuracy=entry.get("accuracy"),
                chance=entry["chance"],
                ci_low=ci[0],
                ci_high=ci[1],
                p_value=binomial.get("p_value"),
                median_response_ms=float(medians[category]) if category in medians.index else None,
            )
        )
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


@dataclass(frozen=True)
class PortraitItem:
    """How experts answered about one portrait, in answered questions only (skips and timeouts left out, as
    in the accuracy denominators)."""

    portrait_id: int
    content_hash: str
    kind: str
    disorder: str
    used_in_training: bool | None
    rvs_shown: int = 0  # real_vs_synthetic questions it was one of the options in
    rvs_chosen: int = 0  # ... in which it was chosen as the real portrait
    reid_shown: int = 0  # reidentification questions it was a candidate in
    reid_chosen: int = 0  # ... in which it was chosen as the training member
    diag_shown: int = 0  # diagnosis questions that asked about it
    diag_right: int = 0  # ... diagnosed right

    @property
    def rvs_rate(self) -> float | None:
        return self.rvs_chosen / self.rvs_shown if self.rvs_shown else None

    @property
    def reid_rate(self) -> float | None:
        return self.reid_chosen / self.reid_shown if self.reid_shown else None

    @property
    def diag_rate(self) -> float | None:
        return self.diag_right / self.diag_shown if self.diag_shown else None


@dataclass
class ItemView:
    portraits: list[PortraitItem] = field(default_factory=list)
    fooled: list[PortraitItem] = field(default_factory=list)  # synthetic portraits most often taken for real


def _option_counts(study: Study, category: str) -> dict[int, tuple[int, int]]:
    """Per portrait: in how many answered questions of the category it was an option, and how often it was
    the one chosen. One GROUP BY in the database (the options export, counted where it lies)."""
    rows = (
        Option.objects.filter(
            question__session__study=study,
            question__is_practice=False,
            question__category=category,
            question__answer__outcome=Outcome.ANSWERED,
            image__isnull=False,
        )
        .values("image__portrait_id")
        .annotate(shown=Count("pk"), chosen=Count("pk", filter=Q(code=F("question__answer__choice"))))
    )
    return {row["image__portrait_id"]: (row["shown"], row["chosen"]) for row in rows}


def _diagnosis_counts(study: Study) -> dict[int, tuple[int, int]]:
    """Per portrait: how many answered diagnosis questions asked about it, and how many were right."""
    rows = (
        ShownImage.objects.filter(
            session__study=study,
            role=ShownImage.Role.STIMULUS,
            question__category=Category.DIAGNOSIS,
            question__is_practice=False,
            question__answer__outcome=Outcome.ANSWERED,
        )
        .values("portrait_id")
        .annotate(shown=Count("pk"), right=Count("pk", filter=Q(question__answer__correct=True)))
    )
    return {row["portrait_id"]: (row["shown"], row["right"]) for row in rows}


def item_view(study: Study, *, most_fooling: int = 12) -> ItemView:
    """Per portrait: how often it was chosen as real (real_vs_synthetic), as the training member
    (reidentification) and diagnosed right (diagnosis); and the synthetic portraits that fooled experts
    most. Counts answered questions only, as the options export would (a test checks the two agree); an
    abandoned question is a timeout, so it is not counted."""
    rvs = _option_counts(study, Category.REAL_VS_SYNTHETIC)
    reid = _option_counts(study, Category.REIDENTIFICATION)
    diag = _diagnosis_counts(study)
    seen = set(rvs) | set(reid) | set(diag)
    items = []
    for portrait in (
        Portrait.objects.filter(study=study, pk__in=seen)
        .select_related("disorder")
        .order_by("kind", "disorder__code", "content_hash")
    ):
        r_shown, r_chosen = rvs.get(portrait.pk, (0, 0))
        i_shown, i_chosen = reid.get(portrait.pk, (0, 0))
        d_shown, d_right = diag.get(portrait.pk, (0, 0))
        items.append(
            PortraitItem(
                portrait_id=portrait.pk,
                content_hash=portrait.content_hash,
                kind=portrait.kind,
                disorder=portrait.disorder.code,
                used_in_training=portrait.used_in_training,
                rvs_shown=r_shown,
                rvs_chosen=r_chosen,
                reid_shown=i_shown,
                reid_chosen=i_chosen,
                diag_shown=d_shown,
                diag_right=d_right,
            )
        )
    fooled = sorted(
        (i for i in items if i.kind == "synthetic" and i.rvs_chosen),
        key=lambda i: (-i.rvs_rate, -i.rvs_chosen, i.content_hash),
    )
    return ItemView(portraits=items, fooled=fooled[:most_fooling])


IN_BATCH = 900  # ids per `IN (...)`: under SQLite's limit of bound parameters


def results_version(study: Study) -> str:
    """A short fingerprint of everything the dashboard and item view are computed from: the sessions
    (count, finished, ended, last id), the answers of the sessions still running (count and last id) and
    the overdue questions that count as timeouts without a write. A finished or ended session's answers
    never change again, so only running sessions' answers are read: the cost follows the sessions running
    now, not the study's size."""
    sessions = study.sessions.aggregate(
        n=Count("pk"),
        last=Max("pk"),
        finished=Count("pk", filter=Q(finished_at__isnull=False)),
        ended=Count("pk", filter=Q(ended_at__isnull=False)),
    )
    running = study.sessions.filter(finished_at__isnull=True, ended_at__isnull=True).values("pk")
    answers = Answer.objects.filter(question__session__in=running).aggregate(n=Count("pk"), last=Max("pk"))
    overdue = [question.pk for question in selectors.overdue_questions(study)]
    # the study's random seed too: a study re-created under a reused id (a restored database) never meets
    # the old one's entries
    basis = repr((study.seed, sorted(answers.items()), sorted(sessions.items()), overdue, study.bank_frozen_at))
    return hashlib.sha256(basis.encode()).hexdigest()[:24]


def _cached(name: str, study: Study, build):
    """`build(study)` once per version of the study's results, inside the request (the item view: 0.4 s of
    CPU at 5,000 experts, so it stays inline; the dashboard's figures cost seconds and come from the worker) (Django's cache framework: per process by
    default, shared when a shared cache is configured); recomputed as soon as an answer or session changes."""
    key = f"survey:{name}:{study.pk}:{results_version(study)}"
    value = cache.get(key)
    if value is None:
        value = build(study)
        cache.set(key, value, CACHE_SECONDS)
    return value


def cached_item_view(study: Study) -> ItemView:
    return _cached("items", study, item_view)


# --- The dashboard's figures, computed by the worker (stale-while-revalidate) --------------------------
#
# Computing the figures costs seconds of CPU that grow with the study (pandas, the analysis, two plots), so
# no request computes them: the worker does (survey.tasks.refresh_dashboard) and keeps the result in the
# report of a `Job` row of kind "dashboard", in the database that every web host shares. A request reads
# the last result; when it was computed from an older version of the answers, the request shows it, says
# so, and queues one recompute (a database constraint keeps it to one per study). The header counts are
# the result's too: counting a study's answers live would again cost what the study's size costs.

DASHBOARD_PAGE_REFRESH_S = 5  # how often a page showing old or missing figures reloads itself


def dashboard_to_json(dashboard: Dashboard) -> dict:
    return asdict(dashboard)


def dashboard_from_json(data: dict) -> Dashboard:
    return Dashboard(
        progress=selectors.StudyProgress(**data["progress"]),
        categories=[CategoryRow(**row) for row in data["categories"]],
        findings=list(data["findings"]),
        accuracy_png=data["accuracy_png"],
        timeline_png=data["timeline_png"],
        analysis_note=data["analysis_note"],
    )


def refresh_dashboard(study: Study) -> dict:
    """Compute the figures and return what a dashboard job keeps: the version they were computed from (read
    first, so that an answer arriving meanwhile makes them stale at once), the last answer they include
    (so a page counts the answers since by the primary key's index, however large the study), and the
    figures themselves."""
    version = results_version(study)
    last_answer = Answer.objects.filter(question__session__study=study).aggregate(last=Max("pk"))["last"] or 0
    return {"version": version, "last_answer": last_answer, "dashboard": dashboard_to_json(study_dashboard(study))}


@dataclass(frozen=True)
class DashboardView:
    """What the dashboard page shows: the figures (None until first computed), how current they are, and
    whether a recompute is under way."""

    dashboard: Dashboard | None
    computed_at: datetime | None
    fresh: bool
    new_answers: int  # answered questions since the figures were computed

    @property
    def has_figures(self) -> bool:
        return self.dashboard is not None

    @property
    def updating(self) -> bool:
        return not self.fresh


def _answers_since(study: Study, last_answer: int) -> int:
    """Answered questions of the study after answer `last_answer`. Every step looks rows up by their primary
    key (the answers since by its range, their questions and sessions by id), so the cost is that of the
    answers since, not of the study: a join on the study lets the database walk all of the study's
    questions instead (SQLite did, 0.1 s at 5,000 experts)."""
    question_ids = list(
        Answer.objects.filter(pk__gt=last_answer, outcome=Outcome.ANSWERED).values_list("question_id", flat=True)
    )
    session_ids = [
        session
        for start in range(0, len(question_ids), IN_BATCH)
        for session in Question.objects.filter(
            pk__in=question_ids[start : start + IN_BATCH], is_practice=False
        ).values_list("session_id", flat=True)
    ]
    distinct = sorted(set(session_ids))
    ours = {
        pk
        for start in range(0, len(distinct), IN_BATCH)
        for pk in study.sessions.filter(pk__in=distinct[start : start + IN_BATCH]).values_list("pk", flat=True)
    }
    return sum(1 for session in session_ids if session in ours)


def dashboard_view(study: Study) -> DashboardView:
    """The figures for a request, without computing them: the last result, and one recompute queued (by
    survey.jobs.dashboard_queue, deduplicated) when it is missing or older than the answers. Every query
    here costs what the running sessions and the answers since cost, not the study's size."""
    from survey import jobs

    latest = (
        Job.objects.defer("file_data")
        .filter(study=study, kind=Job.Kind.DASHBOARD, state=Job.State.DONE)
        .order_by("-finished_at", "-pk")
        .first()
    )
    fresh = latest is not None and latest.report.get("version") == results_version(study)
    if not fresh:
        jobs.dashboard_queue(study)
    if latest is None:
        return DashboardView(None, computed_at=None, fresh=False, new_answers=0)
    new_answers = 0 if fresh else _answers_since(study, latest.report.get("last_answer", 0))
    return DashboardView(
        dashboard_from_json(latest.report["dashboard"]),
        computed_at=latest.finished_at,
        fresh=fresh,
        new_answers=new_answers,
    )
