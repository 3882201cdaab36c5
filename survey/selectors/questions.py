"""The participant's question page: the question as shown (`question_view`: never a portrait's kind, file
name or the correct option), its time left, a category's introduction with the practice answer's feedback,
and how the question before ended (for the pause between questions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.utils import timezone

from survey import clock
from survey.models import Answer, Category, Option, Question, QuizSession, ShownImage
from survey.prepared import PreparedSelect

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
