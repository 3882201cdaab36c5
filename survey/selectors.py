"""Reads for the participant flow, the admin and exports. Nothing here writes.

What a participant's page or API response is built from comes only from `question_view`, which never
carries a portrait's kind, file name or the correct option.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from survey import clock
from survey.models import (
    Answer,
    Category,
    Option,
    Outcome,
    Portrait,
    Question,
    QuizSession,
    ShownImage,
    Study,
)
from survey.plan_inputs import bank_snapshot, plan_settings_for, study_roles_draw
from survey.planning import PlanError, plan_session, validate_settings
from survey.prepared import PreparedSelect
from survey.roles import RoleError

PROMPTS = {
    Category.REAL_VS_SYNTHETIC: "One of these portraits shows a real person; the others are synthetic. Which one is real?",
    Category.REIDENTIFICATION: (
        "The reference image is the latent average of {disorder}. Exactly one of the people shown with it was in "
        "the generator's training set. Which one?"
    ),
    Category.DIAGNOSIS: "Which disorder does this person have?",
}

# Each category's task in one sentence, for its introduction.
TASKS = {
    Category.REAL_VS_SYNTHETIC: "You see {n} portraits of people with the same disorder: one is a real photograph, "
    "the others were made by a computer. Pick the real one.",
    Category.REIDENTIFICATION: "You see a disorder's latent average (an image the generator made from everything it "
    "learned) and {n} real people: one of them was in its training set. Pick that person.",
    Category.DIAGNOSIS: "You see one portrait and {n} disorders. Pick the disorder the person has.",
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
    remaining_ms: int | None  # None until the clock starts
    latest_remaining_ms: int  # time left at the latest, counted from the clock's latest possible start
    arming_delay_ms: int
    category_label: str
    reference_of: str  # the disorder a re-identification's latent average shows, as its prompt names it


def remaining_ms(question: Question, now: datetime) -> int | None:
    """Time left on a running clock; None before the clock starts."""
    if question.clock_started_at is None:
        return None
    return clock.ms_between(now, clock.deadline(question.clock_started_at, question.time_limit_ms))


def latest_remaining_ms(question: Question, now: datetime) -> int:
    """Time left at the latest: what the page shows while portraits are slow, since the server's clock
    may already be running (survey/clock.py)."""
    deadline = question.deadline()
    return question.time_limit_ms if deadline is None else clock.ms_between(now, deadline)


def with_kind_total(questions: QuerySet[Question]) -> QuerySet[Question]:
    """Each question with how many questions of its kind (practice or timed) its session has, as
    `kind_total`, counted in the same query (the question view shows "3 of 30")."""
    same_kind = (
        Question.objects.filter(session=OuterRef("session"), is_practice=OuterRef("is_practice"))
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return questions.annotate(kind_total=Subquery(same_kind))


def _question_images(question_id: int) -> QuerySet:
    return ShownImage.objects.filter(question_id=question_id).order_by("slot").values_list("pk", "token", "role")


def _question_options(question_id: int) -> QuerySet:
    options = Option.objects.filter(question_id=question_id).order_by("slot")
    return options.values_list("slot", "code", "label", "image_id")


# Plain rows, not model instances, compiled once (survey/prepared.py): built on every question request.
_IMAGES = PreparedSelect(_question_images)
_OPTIONS = PreparedSelect(_question_options)


def question_view(question: Question, *, now: datetime | None = None) -> QuestionView:
    now = now if now is not None else timezone.now()
    images = _IMAGES.run(question.pk)
    stimuli = tuple(token for _, token, role in images if role == ShownImage.Role.STIMULUS)
    option_tokens = {pk: token for pk, token, role in images if role == ShownImage.Role.OPTION}
    options = tuple(
        OptionView(slot, code, label, option_tokens.get(image_id))
        for slot, code, label, image_id in _OPTIONS.run(question.pk)
    )
    total = getattr(question, "kind_total", None)  # fetched with the question on the serving path
    if total is None:
        total = question.session.questions.filter(is_practice=question.is_practice).count()
    category = Category(question.category)
    return QuestionView(
        id=question.pk,
        is_practice=question.is_practice,
        position=question.position,
        total=total,
        category=question.category,
        prompt=PROMPTS[category].format(disorder=question.disorder.name),
        stimulus_tokens=stimuli,
        options=options,
        time_limit_ms=question.time_limit_ms,
        load_allowance_ms=question.load_allowance_ms,
        clock_running=question.clock_started_at is not None,
        remaining_ms=remaining_ms(question, now),
        latest_remaining_ms=latest_remaining_ms(question, now),
        arming_delay_ms=question.arming_delay_ms,
        category_label=category.label,
        # Named only where it is not the answer (a diagnosis stimulus's disorder is).
        reference_of=question.disorder.name if category == Category.REIDENTIFICATION else "",
    )


@dataclass(frozen=True)
class PracticeResult:
    """How the participant did on a category's practice question: practice answers are told, timed ones never."""

    outcome: str
    right: bool | None
    chosen_label: str
    correct_label: str


@dataclass(frozen=True)
class CategoryIntro:
    category: str
    label: str
    task: str
    part: int
    parts: int
    n_questions: int
    time_limit_s: int
    is_practice: bool  # the next question is the category's practice question
    practice_result: PracticeResult | None


def _session_plan(session_id: int) -> QuerySet:
    """Each question's category and kind (practice or timed), in the order the session asks them."""
    return Question.objects.filter(session_id=session_id).order_by("sequence").values_list("category", "is_practice")


def _answer_of(question_id: int) -> QuerySet[Answer]:
    return Answer.objects.filter(question_id=question_id).order_by()[:1]  # one at most: no ordering needed


def _question_before(session_id: int, sequence: int) -> QuerySet[Question]:
    return Question.objects.filter(session_id=session_id, sequence__lt=sequence).order_by("-sequence")[:1]


# Read whenever a question is first served (the earlier question), and when it opens a block: compiled once.
_EARLIER = PreparedSelect(_question_before)
_SESSION_PLAN = PreparedSelect(_session_plan)
_ANSWER = PreparedSelect(_answer_of)


def _practice_result(practice: Question) -> PracticeResult | None:
    found = _ANSWER.run(practice.pk)
    if not found:
        return None
    answer = found[0]
    labels = {code: label for _, code, label, _ in _OPTIONS.run(practice.pk)}
    return PracticeResult(
        outcome=answer.outcome,
        right=answer.correct,
        chosen_label=labels.get(answer.choice, ""),
        correct_label=labels[practice.correct_choice],
    )


def category_intro(question: Question, *, being_served: bool = False) -> CategoryIntro | None:
    """The introduction shown before a block's first question is served: before a category's practice
    question, and (with the practice answer's feedback) before its first timed question. `being_served`:
    the question was served by the request that shows the introduction with it (the API)."""
    if question.served_at is not None and not being_served:
        return None
    found = _EARLIER.run(question.session_id, question.sequence)
    earlier = found[0] if found else None
    opens_block = earlier is None or earlier.category != question.category or earlier.is_practice
    if not opens_block:
        return None
    plan = _SESSION_PLAN.run(question.session_id)
    categories = list(dict.fromkeys(category for category, _ in plan))
    category = Category(question.category)
    n_options = len(_OPTIONS.run(question.pk))
    practice = (
        earlier if earlier is not None and earlier.is_practice and earlier.category == question.category else None
    )
    return CategoryIntro(
        category=category.value,
        label=category.label,
        task=TASKS[category].format(n=n_options),
        part=categories.index(category.value) + 1,
        parts=len(categories),
        n_questions=sum(1 for c, is_practice in plan if c == category.value and not is_practice),
        time_limit_s=round(question.time_limit_ms / 1000),
        is_practice=question.is_practice,
        practice_result=_practice_result(practice) if practice is not None else None,
    )


def previous_outcome(session: QuizSession) -> str | None:
    """How the question just before the current one ended (answered, skipped, timeout), for the pause
    between questions; None at the start of a block. Never whether it was right."""
    current = session.questions.filter(answer__isnull=True).order_by("sequence").first()
    if current is None:
        return None
    earlier = (
        session.questions.filter(sequence__lt=current.sequence).select_related("answer").order_by("-sequence").first()
    )
    if earlier is None or earlier.category != current.category or earlier.is_practice != current.is_practice:
        return None
    answer = getattr(earlier, "answer", None)
    return answer.outcome if answer is not None else None


@dataclass(frozen=True)
class ParticipantImage:
    """What delivering a portrait to its participant needs, from one query and no model rows."""

    shown: ShownImage  # only its id, question and delivery time (for services.portrait_delivered)
    content_hash: str
    study_id: int
    study_pad_bytes: int | None


def _participant_image(token: str, access_token: str) -> QuerySet:
    return (
        ShownImage.objects.filter(token=token, session__access_token=access_token, question__served_at__isnull=False)
        .order_by()  # the token is unique: no ordering (the model's would join more tables)
        .values_list(
            "pk",
            "question_id",
            "delivered_at",
            "portrait__content_hash",
            "session__study_id",
            "session__study__image_pad_bytes",
        )[:1]
    )


_PARTICIPANT_IMAGE = PreparedSelect(_participant_image)  # the commonest request a participant makes


def participant_image(token: str, access_token: str) -> ParticipantImage | None:
    """The image behind a token, if the session holding `access_token` has been shown (or is being shown)
    its question: one query, the session matched by its token in the same join (the per-portrait request
    is the commonest a participant makes)."""
    rows = _PARTICIPANT_IMAGE.run(token, access_token)
    if not rows:
        return None
    pk, question_id, delivered_at, content_hash, study_id, pad_bytes = rows[0]
    return ParticipantImage(
        ShownImage(pk=pk, question_id=question_id, delivered_at=delivered_at), content_hash, study_id, pad_bytes
    )


def shown_image_for_participant(token: str, session: QuizSession) -> ShownImage | None:
    """The image behind a token, if this session has been shown (or is being shown) its question."""
    return (
        ShownImage.objects.select_related("portrait")
        .filter(token=token, session=session, question__served_at__isnull=False)
        .first()
    )


def shown_image_for_staff(token: str, *, studies) -> ShownImage | None:
    """The image behind a token, if it belongs to one of `studies` (those the staff member coordinates)."""
    return ShownImage.objects.select_related("portrait").filter(token=token, session__study__in=studies).first()


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


def study_readiness(study: Study) -> list[str]:
    """What stops the study from starting a session, in sentences for its coordinator; empty when ready.

    A dry run of what the first session does: draw the roles (unless the bank is frozen) and one plan.
    """
    settings = plan_settings_for(study)
    try:
        validate_settings(settings)
        bank = bank_snapshot(study, as_of=timezone.now())
        if study.bank_frozen_at is None:
            assignment = study_roles_draw(study, bank)
            bank = [replace(p, role=assignment.roles.get(p.id, "")) for p in bank]
        plan_session(bank, settings, study.seed)
    except (PlanError, RoleError) as error:
        return [f"{str(error)[0].upper()}{str(error)[1:]}."]
    return []


@dataclass(frozen=True)
class BankGroup:
    disorder: str
    kind: str  # "real (training)", "real (held out)", "synthetic", "latent average"
    count: int
    roles: dict[str, int]
    sample_ids: tuple[int, ...]  # a few portraits to show as thumbnails


def bank_overview(study: Study, *, samples: int = 4) -> list[BankGroup]:
    """The bank at a glance: per disorder and kind, how many portraits, in which roles, and a few of them."""
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    rows = (
        Portrait.objects.filter(study=study)
        .order_by("disorder__code", "kind", "content_hash")
        .values_list("id", "disorder__code", "kind", "used_in_training", "role")
    )
    for pk, disorder, kind, used, role in rows:
        label = {
            "real": "real (training)" if used else "real (held out)",
            "synthetic": "synthetic",
            "latent_average": "latent average",
        }[kind]
        groups.setdefault((disorder, label), []).append((pk, role))
    return [
        BankGroup(
            disorder,
            kind,
            len(items),
            dict(Counter(role or "unused (never shown)" for _, role in items)),
            tuple(pk for pk, _ in items[:samples]),
        )
        for (disorder, kind), items in groups.items()
    ]
