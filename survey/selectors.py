"""Reads for the participant flow, the admin and exports. Nothing here writes.

What a participant's page or API response is built from comes only from `question_view`, which never
carries a portrait's kind, file name or the correct option.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from survey.models import Category, Outcome, Question, QuizSession, ShownImage, Study

PROMPTS = {
    Category.REAL_VS_SYNTHETIC: "One of these portraits shows a real person; the others are synthetic. Which one is real?",
    Category.REIDENTIFICATION: (
        "The first image is the latent average of {disorder}. Exactly one of the people beside it was in the "
        "generator's training set. Which one?"
    ),
    Category.DIAGNOSIS: "Which disorder does this person have?",
}


@dataclass(frozen=True)
class OptionView:
    slot: int
    code: str
    label: str
    image_token: str | None


@dataclass(frozen=True)
class QuestionView:
    id: int
    is_practice: bool
    position: int
    total: int
    category: str
    prompt: str
    stimulus_tokens: tuple[str, ...]
    options: tuple[OptionView, ...]
    time_limit_ms: int
    load_allowance_ms: int
    clock_running: bool
    remaining_ms: int | None  # None until the clock starts (untimed for practice)

    @property
    def image_tokens(self) -> tuple[str, ...]:
        return self.stimulus_tokens + tuple(o.image_token for o in self.options if o.image_token)


def remaining_ms(question: Question, now: datetime) -> int | None:
    if question.clock_started_at is None:
        return None
    deadline = question.clock_started_at + timedelta(milliseconds=question.time_limit_ms)
    return max(0, round((deadline - now) / timedelta(milliseconds=1)))


def question_view(question: Question, *, now: datetime | None = None) -> QuestionView:
    now = now if now is not None else timezone.now()
    images = list(question.images.order_by("slot"))
    stimuli = tuple(i.token for i in images if i.role == ShownImage.Role.STIMULUS)
    option_tokens = {i.pk: i.token for i in images if i.role == ShownImage.Role.OPTION}
    options = tuple(
        OptionView(o.slot, o.code, o.label, option_tokens.get(o.image_id)) for o in question.options.order_by("slot")
    )
    total = question.session.questions.filter(is_practice=question.is_practice).count()
    return QuestionView(
        id=question.pk,
        is_practice=question.is_practice,
        position=question.position,
        total=total,
        category=question.category,
        prompt=PROMPTS[Category(question.category)].format(disorder=question.disorder.name),
        stimulus_tokens=stimuli,
        options=options,
        time_limit_ms=question.time_limit_ms,
        load_allowance_ms=question.load_allowance_ms,
        clock_running=question.clock_started_at is not None,
        remaining_ms=None if question.is_practice else remaining_ms(question, now),
    )


def shown_image_for_participant(token: str, session: QuizSession) -> ShownImage | None:
    """The image behind a token, if this session has been shown (or is being shown) its question."""
    return (
        ShownImage.objects.select_related("portrait")
        .filter(token=token, session=session, question__served_at__isnull=False)
        .first()
    )


def shown_image_for_staff(token: str) -> ShownImage | None:
    return ShownImage.objects.select_related("portrait").filter(token=token).first()


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
        CategoryScore(c.value, c.label, **{k: by_category[c.value][k] for k in ("answered", "correct", "skipped", "timed_out")})
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


def study_progress(study: Study) -> StudyProgress:
    sessions = study.sessions.aggregate(
        started=Count("pk"), finished=Count("pk", filter=Q(stage=QuizSession.Stage.FINISHED))
    )
    answers = Question.objects.filter(session__study=study, is_practice=False).aggregate(
        answered=Count("pk", filter=Q(answer__outcome=Outcome.ANSWERED)),
        skipped=Count("pk", filter=Q(answer__outcome=Outcome.SKIPPED)),
        timed_out=Count("pk", filter=Q(answer__outcome=Outcome.TIMEOUT)),
    )
    return StudyProgress(sessions["started"], sessions["finished"], **answers)
