"""Outcomes counted: a session's scores for its end page, a study's progress (overdue questions counted
as the timeouts they are, on read), and the portrait each timed diagnosis question showed (exports)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q
from django.utils import timezone

from survey.models import Category, Outcome, Question, QuizSession, ShownImage, Study


@dataclass(frozen=True)
class CategoryScore:
    category: str
    label: str
    answered: int
    correct: int
    skipped: int
    timed_out: int


def session_scores(session: QuizSession) -> list[CategoryScore]:
    """Per-category counts for the end page; only ever shown after the last question."""
    rows = (
        session.questions.filter(is_practice=False)
        .values("category")
        .annotate(
            answered=Count("pk", filter=Q(answer__outcome=Outcome.ANSWERED)),
            correct=Count("pk", filter=Q(answer__correct=True)),
            skipped=Count("pk", filter=Q(answer__outcome=Outcome.SKIPPED)),
            timed_out=Count("pk", filter=Q(answer__outcome=Outcome.TIMEOUT)),
        )
    )
    by_category = {row["category"]: row for row in rows}
    return [
        CategoryScore(
            c.value, c.label, **{k: by_category[c.value][k] for k in ("answered", "correct", "skipped", "timed_out")}
        )
        for c in Category
        if c.value in by_category
    ]


@dataclass(frozen=True)
class StudyProgress:
    sessions_started: int
    sessions_finished: int
    answered: int
    skipped: int
    timed_out: int


def overdue_questions(study: Study, *, now: datetime | None = None) -> list[Question]:
    """Served, unanswered questions of running sessions whose deadline and grace have passed
    (`Question.is_overdue`): abandoned, so timeouts. `services.study_expire_overdue` (and so
    `manage.py close_expired`) records them; exports and the dashboard count them as timeouts on read,
    writing nothing. A session has at most one such question, so this is one short query."""
    now = now if now is not None else timezone.now()
    # Only unfinished sessions can hold one (a finished or ended session has finished_at); selecting them
    # first keeps this query as small as the running sessions, however many have finished.
    running = QuizSession.objects.filter(study=study, finished_at__isnull=True, ended_at__isnull=True)
    pending = Question.objects.filter(
        session__in=running.values("pk"), served_at__isnull=False, answer__isnull=True
    ).order_by("pk")
    return [question for question in pending if question.is_overdue(now)]


def study_progress(study: Study, *, now: datetime | None = None) -> StudyProgress:
    """Sessions and outcomes so far; overdue questions of abandoned sessions count as the timeouts they are,
    whether or not `close_expired` has recorded them yet."""
    sessions = study.sessions.aggregate(
        started=Count("pk"), finished=Count("pk", filter=Q(stage=QuizSession.Stage.FINISHED))
    )
    answers = Question.objects.filter(session__study=study, is_practice=False).aggregate(
        answered=Count("pk", filter=Q(answer__outcome=Outcome.ANSWERED)),
        skipped=Count("pk", filter=Q(answer__outcome=Outcome.SKIPPED)),
        timed_out=Count("pk", filter=Q(answer__outcome=Outcome.TIMEOUT)),
    )
    answers["timed_out"] += sum(not q.is_practice for q in overdue_questions(study, now=now))
    return StudyProgress(sessions["started"], sessions["finished"], **answers)


def diagnosis_stimuli(study: Study) -> dict[int, int]:
    """The portrait each timed diagnosis question showed, by question id (the options table lists the
    disorders offered, not the portrait asked about)."""
    rows = ShownImage.objects.filter(
        session__study=study,
        role=ShownImage.Role.STIMULUS,
        question__category=Category.DIAGNOSIS,
        question__is_practice=False,
    ).values_list("question_id", "portrait_id")
    return dict(rows)
