"""A question's life: served (the current question, or the one a category's introduction led to), its
clock started when the portraits are on screen, answered or skipped, expired when the page's countdown
ends, and the timeouts of abandoned sessions recorded; the session finishes with its last outcome."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from survey import clock, selectors
from survey.models import Answer, Option, Outcome, Question, QuizSession, Study
from survey.prepared import PreparedSelect, PreparedUpdate
from survey.services._common import _locked, _now, _now_of, _require_stage, _session_transaction
from survey.services.errors import (
    AlreadyAnswered,
    NotExpired,
    QuestionNotCurrent,
    SessionEnded,
    TooEarly,
    UnknownOption,
)

# What a choice may look like before it is compared with anything or kept for audit: an option code.
_choice_max_length = Answer._meta.get_field("choice").max_length
assert _choice_max_length is not None  # Answer.choice is a CharField with a max_length (survey/models/sessions.py)
MAX_CHOICE_LENGTH: int = _choice_max_length


def _check_choice_text(choice: str) -> None:
    if len(choice) > MAX_CHOICE_LENGTH or not choice.isprintable():
        raise UnknownOption(f"A choice is an option's code: at most {MAX_CHOICE_LENGTH} printable characters.")


def _unanswered_questions(session_id: int) -> QuerySet[Question]:
    """The question the session is on and the one after it (practice included, in the plan's order): at
    most two rows, so an answer knows in the same query whether it finishes the session."""
    return Question.objects.filter(session_id=session_id, answer__isnull=True).order_by("sequence")[:2]


def _unanswered_questions_to_show(session_id: int) -> QuerySet[Question]:
    """The same, for the question page: with its disorder (one join) and its "n of N" (a subquery)."""
    return selectors.with_kind_total(
        Question.objects.filter(session_id=session_id, answer__isnull=True)
        .select_related("disorder")
        .order_by("sequence")
    )[:2]


# Every per-question step reads these: compiled once (survey/prepared.py).
_UNANSWERED = PreparedSelect(_unanswered_questions)
_UNANSWERED_TO_SHOW = PreparedSelect(_unanswered_questions_to_show)


def _unanswered_head(session: QuizSession, *, with_disorder: bool = False) -> list[Question]:
    """The question the session is on and the one after it, each knowing its session (no query for it)."""
    head = (_UNANSWERED_TO_SHOW if with_disorder else _UNANSWERED).run(session.pk)
    for question in head:
        question.session = session
    return head


def _first_unanswered(session: QuizSession, *, with_disorder: bool = False) -> Question | None:
    """The question the session is on, practice included, in the order the plan asks them."""
    head = _unanswered_head(session, with_disorder=with_disorder)
    return head[0] if head else None


def _record(question: Question, **fields) -> Answer:
    try:
        with transaction.atomic():
            return Answer.objects.create(question=question, **fields)
    except IntegrityError:
        # Another request recorded an outcome first; it stands.
        raise AlreadyAnswered(Answer.objects.get(question=question)) from None


def _record_timeout(question: Question, late_choice: str = "") -> Answer:
    return _record(question, outcome=Outcome.TIMEOUT, answered_at=question.deadline(), late_choice=late_choice)


def _finish(session: QuizSession, now: datetime) -> None:
    """Every question has its outcome: the session is finished (once)."""
    if session.stage == QuizSession.Stage.QUIZ:
        session.stage = QuizSession.Stage.FINISHED
        session.finished_at = now
        session.save(update_fields=["stage", "finished_at"])


def _require_running(session: QuizSession) -> None:
    if session.ended_at is not None:
        raise SessionEnded("This session was ended by the study's coordinator.")


def _served(question_id: int, at: datetime) -> tuple[QuerySet[Question], dict]:
    return Question.objects.filter(pk=question_id), {"served_at": at}


def _clock_fixed(question_id: int, at: datetime, rule: str) -> tuple[QuerySet[Question], dict]:
    return Question.objects.filter(pk=question_id), {"clock_started_at": at, "clock_rule": rule}


# The writes of every question (as `save(update_fields=...)` would write them): compiled once.
_SERVE = PreparedUpdate(_served)
_FIX_CLOCK = PreparedUpdate(_clock_fixed)


def _serve(question: Question, now: datetime) -> Question:
    question.served_at = now
    _SERVE.run(question.pk, now)
    question.served_now = True  # this call served it (its category's introduction goes with it)
    return question


def session_current_question(
    *, session: QuizSession, serve: bool = True, now: datetime | None = None
) -> Question | None:
    """The question the participant is on (practice or timed), served the first time it is asked for.

    A reload returns the same question with its clock untouched. A question whose deadline and grace have
    passed is recorded as a timeout and the next one is taken. With serve=False nothing is served (the page
    may first show the category's introduction). None when the session is finished.
    """
    with _session_transaction(session):
        session = _locked(session)
        now = _now_of(session, now)
        _require_stage(session, QuizSession.Stage.QUIZ, QuizSession.Stage.FINISHED)
        if session.ended_at is not None:
            return None
        while (question := _first_unanswered(session, with_disorder=True)) is not None:
            if question.served_at is None:
                return _serve(question, now) if serve else question
            if not question.is_overdue(now):
                return question
            _record_timeout(question)
        _finish(session, now)
        return None


def question_serve(*, session: QuizSession, question_id: int, now: datetime | None = None) -> Question:
    """The participant leaves a category's introduction: the question it introduced is served."""
    with _session_transaction(session):
        session = _locked(session)
        now = _now_of(session, now)
        _require_stage(session, QuizSession.Stage.QUIZ)
        _require_running(session)
        current = _first_unanswered(session, with_disorder=True)
        if current is None or current.pk != question_id:
            raise QuestionNotCurrent("That is not the question you are on.")
        return current if current.served_at is not None else _serve(current, now)


def _current_or_refuse(session: QuizSession, question_id: int) -> Question:
    """The served, unanswered current question if that is `question_id`; refuses anything else. The
    question knows whether it is the session's last unanswered one (`is_last`)."""
    _require_running(session)
    head = _unanswered_head(session)
    current = head[0] if head else None
    if current is not None and current.pk == question_id and current.served_at is not None:
        # The usual case, in one query: the question asked about is the served, unanswered current one.
        current.is_last = len(head) == 1
        return current
    try:
        question = session.questions.select_related("answer").get(pk=question_id)
    except Question.DoesNotExist:
        raise QuestionNotCurrent("That question is not part of this session.") from None
    if hasattr(question, "answer"):
        raise AlreadyAnswered(question.answer)
    if current is None or current.pk != question.pk or question.served_at is None:
        raise QuestionNotCurrent("That is not the question you are on.")
    question.is_last = len(head) == 1
    return question


def _clock_started(question: Question, now: datetime) -> clock.ClockStart:
    """The question's clock start if the page reported the reveal now (only the first report counts)."""
    if question.clock_started_at is not None:
        return clock.ClockStart(question.clock_started_at, question.clock_rule)
    latest = question.latest_clock_start()
    # Its callers pass the question _current_or_refuse returned, which is served: a served question's clock
    # has a latest start (Question.latest_clock_start is None only before serving).
    assert latest is not None
    return clock.start_on_report(latest, now)


def _fix_clock(question: Question, start: clock.ClockStart) -> None:
    if question.clock_started_at is None:
        question.clock_started_at, question.clock_rule = start.at, start.rule
        _FIX_CLOCK.run(question.pk, start.at, start.rule)


def question_clock_start(*, session: QuizSession, question_id: int, now: datetime | None = None) -> Question:
    """The portraits are on screen: the clock runs from now, or from its latest start if that came first
    (survey/clock.py). Only the first call counts, so a reload never restarts the clock."""
    with _session_transaction(session):
        session = _locked(session)
        now = _now_of(session, now)
        _require_stage(session, QuizSession.Stage.QUIZ)
        question = _current_or_refuse(session, question_id)
        _fix_clock(question, _clock_started(question, now))
    question.stamped_at = now  # what the caller counts the remaining time from
    return question


def _option_with_code(question_id: int, code: str) -> QuerySet:
    return Option.objects.filter(question_id=question_id, code=code).values_list("pk")[:1]


_OPTION = PreparedSelect(_option_with_code)  # every answer checks its choice: compiled once


def answer_submit(*, session: QuizSession, question_id: int, choice: str | None, now: datetime | None = None) -> Answer:
    """Record the participant's choice, or a skip when `choice` is None.

    Arriving after deadline + grace, it is recorded as a timeout whatever it claims. Arriving before the
    question armed, it is refused (TooEarly) and nothing is stored. A second submission raises
    AlreadyAnswered carrying the first outcome; a question that is not the current one is refused.
    """
    if choice is not None:
        _check_choice_text(choice)
    with _session_transaction(session):
        session = _locked(session)
        now = _now_of(session, now)
        _require_stage(session, QuizSession.Stage.QUIZ, QuizSession.Stage.FINISHED)
        question = _current_or_refuse(session, question_id)
        start = _clock_started(question, now)
        if not clock.is_armed(start=start.at, arming_delay_ms=question.arming_delay_ms, now=now):
            raise TooEarly(question.arming_delay_ms)
        # Answered before the page reported the reveal (no script, or a lost request): the clock is fixed now.
        _fix_clock(question, start)
        if question.is_overdue(now):
            answer = _record_timeout(question, late_choice=choice or "")
        elif choice is None:
            answer = _record(
                question,
                outcome=Outcome.SKIPPED,
                answered_at=now,
                response_ms=clock.ms_between(start.at, now),
            )
        else:
            if not _OPTION.run(question.pk, choice):
                raise UnknownOption(f"{choice!r} is not one of this question's options.")
            answer = _record(
                question,
                outcome=Outcome.ANSWERED,
                choice=choice,
                correct=choice == question.correct_choice,
                answered_at=now,
                response_ms=clock.ms_between(start.at, now),
            )
        if question.is_last:
            _finish(session, now)
    return answer


def question_expire(*, session: QuizSession, question_id: int, now: datetime | None = None) -> Answer:
    """The page's countdown reached zero. Recorded as a timeout only if the server's clock agrees."""
    with _session_transaction(session):
        session = _locked(session)
        now = _now_of(session, now)
        _require_stage(session, QuizSession.Stage.QUIZ)
        question = _current_or_refuse(session, question_id)
        deadline = question.deadline()
        # _current_or_refuse returns a served question, and a served question's clock has a (latest) start,
        # so a deadline: Question.latest_clock_start and deadline are None only before serving.
        assert deadline is not None
        if now < deadline:
            raise NotExpired(clock.ms_between(now, deadline))
        latest = question.latest_clock_start()
        assert latest is not None  # served, as above
        _fix_clock(question, latest)
        answer = _record_timeout(question)
        if question.is_last:
            _finish(session, now)
    return answer


def study_expire_overdue(*, study: Study, now: datetime | None = None) -> int:
    """Record timeouts for served questions whose deadline and grace have passed (abandoned sessions);
    returns how many were recorded. `manage.py close_expired` runs it periodically and `export_results`
    before writing; reads never call it: they count the same questions through `selectors.overdue_questions`."""
    now = _now(now)
    recorded = 0
    for question in selectors.overdue_questions(study, now=now):
        try:
            _record_timeout(question)
            recorded += 1
        except AlreadyAnswered:
            pass  # answered meanwhile; that answer stands
    return recorded
