"""The rules of a quiz session, written once: the HTML flow and the API both call these.

Every write that depends on a session's state locks the session's row first, so two requests of one
participant (a double click, a retry, two tabs) are serialised; the one-answer rule is also a database
constraint, so it holds even where the lock is a no-op (SQLite serialises writers by itself).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from survey.models import (
    Answer,
    Invite,
    Option,
    Outcome,
    Portrait,
    Question,
    QuizSession,
    ShownImage,
    Study,
)
from survey.planning import BankPortrait, PlanError, PlannedQuestion, PlanSettings, plan_session

logger = logging.getLogger(__name__)


class QuizError(Exception):
    """A request the rules refuse. The message is safe to show to the participant."""


class InviteUnusable(QuizError):
    pass


class StudyClosed(QuizError):
    pass


class WrongStage(QuizError):
    pass


class StudyNotReady(QuizError):
    """The study's bank cannot supply a session; `detail` says what is missing, for the coordinator."""

    def __init__(self, detail: str):
        super().__init__("This study is not ready yet. Please tell the study's coordinator.")
        self.detail = detail


class QuestionNotCurrent(QuizError):
    pass


class UnknownOption(QuizError):
    pass


class AlreadyAnswered(QuizError):
    """A second submission for a question: carries the first, which stands."""

    def __init__(self, answer: Answer):
        super().__init__("This question was already answered; the first answer stands.")
        self.answer = answer


class NotExpired(QuizError):
    def __init__(self, remaining_ms: int):
        super().__init__(f"The time for this question has not run out ({remaining_ms} ms left).")
        self.remaining_ms = remaining_ms


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def _ms_between(start: datetime, end: datetime) -> int:
    return max(0, round((end - start) / timedelta(milliseconds=1)))


# --- drawing a session's questions ------------------------------------------------------------------


def plan_settings_for(study: Study, *, with_practice: bool = True) -> PlanSettings:
    return PlanSettings(
        disorders=tuple(sorted(study.disorders.values_list("code", flat=True))),
        counts={
            "real_vs_synthetic": study.n_real_vs_synthetic,
            "reidentification": study.n_reidentification,
            "diagnosis": study.n_diagnosis,
        },
        n_synthetic_in_real_vs_synthetic=study.n_synthetic_in_real_vs_synthetic,
        n_candidates_in_reidentification=study.n_candidates_in_reidentification,
        n_options_in_diagnosis=study.n_options_in_diagnosis,
        with_practice=with_practice,
    )


def bank_snapshot(study: Study, *, as_of: datetime) -> list[BankPortrait]:
    """The study's bank as a session drawn at `as_of` saw it: later imports do not change a rebuild."""
    rows = study.portraits.filter(created_at__lte=as_of).values_list(
        "id", "content_hash", "kind", "disorder__code", "used_in_training"
    )
    return [BankPortrait(*row) for row in rows]


def session_plan_rebuild(session: QuizSession) -> list[PlannedQuestion]:
    """The session's questions recomputed from its stored seed (for audits and tests)."""
    return plan_session(bank_snapshot(session.study, as_of=session.started_at), plan_settings_for(session.study), session.seed)


def _questions_create(session: QuizSession, plan: Sequence[PlannedQuestion]) -> None:
    study = session.study
    names = dict(study.disorders.values_list("code", "name"))
    disorder_ids = dict(study.disorders.values_list("code", "id"))
    questions = Question.objects.bulk_create(
        Question(
            session=session,
            is_practice=planned.is_practice,
            position=planned.position,
            category=planned.category,
            disorder_id=disorder_ids[planned.disorder],
            stimulus_kind=planned.stimulus_kind,
            correct_choice=planned.correct_choice,
            time_limit_ms=study.time_limit_ms(planned.category),
            grace_ms=study.grace_ms,
            load_allowance_ms=study.load_allowance_ms,
        )
        for planned in plan
    )
    latent_average_ids = set(
        Portrait.objects.filter(study=study, kind="latent_average").values_list("id", flat=True)
    )
    images: list[ShownImage] = []
    option_rows: list[tuple[Question, int, str, str, int | None]] = []
    for question, planned in zip(questions, plan, strict=True):
        for slot, portrait_id in enumerate(planned.stimulus_portrait_ids, start=1):
            images.append(
                ShownImage(
                    session=session, question=question, portrait_id=portrait_id, role=ShownImage.Role.STIMULUS,
                    slot=slot, repeatable=portrait_id in latent_average_ids,
                )
            )
        for option in planned.options:
            label = names[option.disorder] if option.disorder else f"Portrait {option.code}"
            option_rows.append((question, option.slot, option.code, label, option.portrait_id))
    option_images = ShownImage.objects.bulk_create(
        ShownImage(
            session=session, question=question, portrait_id=portrait_id, role=ShownImage.Role.OPTION, slot=slot,
            repeatable=portrait_id in latent_average_ids,
        )
        for question, slot, _, _, portrait_id in option_rows
        if portrait_id is not None
    )
    ShownImage.objects.bulk_create(images)
    option_image_iter = iter(option_images)
    Option.objects.bulk_create(
        Option(
            question=question, slot=slot, code=code, label=label,
            image=next(option_image_iter) if portrait_id is not None else None,
        )
        for question, slot, code, label, portrait_id in option_rows
    )


# --- a session's life ---------------------------------------------------------------------------------


def session_resumable(*, invite: Invite, now: datetime | None = None) -> QuizSession | None:
    """The session a single-use link already started, which reopening the link resumes. A revoked or
    expired link resumes nothing (InviteUnusable)."""
    if not invite.is_usable_at(_now(now)):
        raise InviteUnusable("This invitation link has expired or was withdrawn.")
    return None if invite.reusable else invite.sessions.first()


def session_start(*, invite: Invite, now: datetime | None = None) -> QuizSession:
    """Consent given on an invite: resume its session (single-use links) or draw a new one."""
    now = _now(now)
    with transaction.atomic():
        invite = Invite.objects.select_for_update().select_related("study").get(pk=invite.pk)
        existing = session_resumable(invite=invite, now=now)
        if existing is not None:
            return existing
        if not invite.study.is_open:
            raise StudyClosed("This study is not accepting participants at the moment.")
        session = QuizSession.objects.create(study=invite.study, invite=invite, consented_at=now, started_at=now)
        try:
            plan = plan_session(bank_snapshot(invite.study, as_of=now), plan_settings_for(invite.study), session.seed)
        except PlanError as error:
            logger.error("Study %s cannot start a session: %s", invite.study.slug, error)
            raise StudyNotReady(str(error)) from None  # the transaction rolls the session back
        _questions_create(session, plan)
    return session


def _locked(session: QuizSession) -> QuizSession:
    return QuizSession.objects.select_for_update().select_related("study").get(pk=session.pk)


def _require_stage(session: QuizSession, *stages: str) -> None:
    if session.stage not in stages:
        raise WrongStage("That step is not available at this point of the survey.")


def session_profile_submit(
    *, session: QuizSession, profession: str, years_experience: int, now: datetime | None = None
) -> QuizSession:
    with transaction.atomic():
        session = _locked(session)
        _require_stage(session, QuizSession.Stage.PROFILE)
        session.profession = profession
        session.years_experience = years_experience
        session.stage = QuizSession.Stage.PRACTICE
        session.save(update_fields=["profession", "years_experience", "stage"])
    return session


def practice_questions_serve(*, session: QuizSession, now: datetime | None = None) -> list[Question]:
    """The untimed practice questions, marked served so their portraits may be fetched."""
    now = _now(now)
    _require_stage(session, QuizSession.Stage.PRACTICE)
    session.questions.filter(is_practice=True, served_at__isnull=True).update(served_at=now)
    return list(session.questions.filter(is_practice=True).order_by("position"))


def session_quiz_begin(*, session: QuizSession) -> QuizSession:
    with transaction.atomic():
        session = _locked(session)
        _require_stage(session, QuizSession.Stage.PRACTICE)
        session.stage = QuizSession.Stage.QUIZ
        session.save(update_fields=["stage"])
    return session


def _first_unanswered(session: QuizSession, *, with_disorder: bool = False) -> Question | None:
    questions = session.questions.filter(is_practice=False, answer__isnull=True).order_by("position")
    if with_disorder:  # the question page names the disorder: one join instead of a second query
        questions = questions.select_related("disorder")
    return questions.first()


def _record(question: Question, **fields) -> Answer:
    try:
        with transaction.atomic():
            return Answer.objects.create(question=question, **fields)
    except IntegrityError:
        # Another request recorded an outcome first; it stands.
        raise AlreadyAnswered(Answer.objects.get(question=question)) from None


def _record_timeout(question: Question, late_choice: str = "") -> Answer:
    return _record(question, outcome=Outcome.TIMEOUT, answered_at=question.deadline(), late_choice=late_choice)


def _finish_if_done(session: QuizSession, now: datetime) -> None:
    if session.stage == QuizSession.Stage.QUIZ and _first_unanswered(session) is None:
        session.stage = QuizSession.Stage.FINISHED
        session.finished_at = now
        session.save(update_fields=["stage", "finished_at"])


def _is_overdue(question: Question, now: datetime) -> bool:
    deadline = question.deadline()
    return deadline is not None and now > deadline + timedelta(milliseconds=question.grace_ms)


def session_current_question(*, session: QuizSession, now: datetime | None = None) -> Question | None:
    """The question the participant is on, served (its clock armed) the first time it is asked for.

    A reload returns the same question with its clock untouched. A question whose deadline and grace have
    passed is recorded as a timeout and the next one is served. None when the session is finished.
    """
    now = _now(now)
    with transaction.atomic():
        session = _locked(session)
        _require_stage(session, QuizSession.Stage.QUIZ, QuizSession.Stage.FINISHED)
        while (question := _first_unanswered(session, with_disorder=True)) is not None:
            if question.served_at is None:
                question.served_at = now
                question.save(update_fields=["served_at"])
                return question
            if not _is_overdue(question, now):
                return question
            _record_timeout(question)
        _finish_if_done(session, now)
        return None


def _current_or_refuse(session: QuizSession, question_id: int) -> Question:
    current = _first_unanswered(session)
    if current is not None and current.pk == question_id and current.served_at is not None:
        # The usual case, in one query: the question asked about is the served, unanswered current one.
        return current
    try:
        question = session.questions.select_related("answer").get(pk=question_id, is_practice=False)
    except Question.DoesNotExist:
        raise QuestionNotCurrent("That question is not part of this session.") from None
    if hasattr(question, "answer"):
        raise AlreadyAnswered(question.answer)
    if current is None or current.pk != question.pk or question.served_at is None:
        raise QuestionNotCurrent("That is not the question you are on.")
    return question


def question_clock_start(*, session: QuizSession, question_id: int, now: datetime | None = None) -> Question:
    """The portraits are on screen: the clock runs from now, or from the end of the load allowance if
    loading took longer. Only the first call counts, so a reload never restarts the clock."""
    now = _now(now)
    with transaction.atomic():
        session = _locked(session)
        _require_stage(session, QuizSession.Stage.QUIZ)
        question = _current_or_refuse(session, question_id)
        if question.clock_started_at is None:
            question.clock_started_at = min(now, question.clock_start())
            question.save(update_fields=["clock_started_at"])
    return question


def answer_submit(
    *, session: QuizSession, question_id: int, choice: str | None, now: datetime | None = None
) -> Answer:
    """Record the participant's choice, or a skip when `choice` is None.

    Arriving after deadline + grace, it is recorded as a timeout whatever it claims. A second submission
    raises AlreadyAnswered carrying the first outcome; a question that is not the current one is refused.
    """
    now = _now(now)
    with transaction.atomic():
        session = _locked(session)
        _require_stage(session, QuizSession.Stage.QUIZ, QuizSession.Stage.FINISHED)
        question = _current_or_refuse(session, question_id)
        if question.clock_started_at is None:
            # Answered before the page reported the reveal (no script, or a lost request).
            question.clock_started_at = min(now, question.clock_start())
            question.save(update_fields=["clock_started_at"])
        if _is_overdue(question, now):
            answer = _record_timeout(question, late_choice=choice or "")
        elif choice is None:
            answer = _record(
                question, outcome=Outcome.SKIPPED, answered_at=now,
                response_ms=_ms_between(question.clock_started_at, now),
            )
        else:
            if not question.options.filter(code=choice).exists():
                raise UnknownOption(f"{choice!r} is not one of this question's options.")
            answer = _record(
                question, outcome=Outcome.ANSWERED, choice=choice, correct=choice == question.correct_choice,
                answered_at=now, response_ms=_ms_between(question.clock_started_at, now),
            )
        _finish_if_done(session, now)
    return answer


def question_expire(*, session: QuizSession, question_id: int, now: datetime | None = None) -> Answer:
    """The page's countdown reached zero. Recorded as a timeout only if the server's clock agrees."""
    now = _now(now)
    with transaction.atomic():
        session = _locked(session)
        _require_stage(session, QuizSession.Stage.QUIZ)
        question = _current_or_refuse(session, question_id)
        deadline = question.deadline()
        if now < deadline:
            raise NotExpired(_ms_between(now, deadline))
        answer = _record_timeout(question)
        _finish_if_done(session, now)
    return answer


def study_expire_overdue(*, study: Study, now: datetime | None = None) -> int:
    """Record timeouts for served questions whose deadline and grace have passed (abandoned sessions), so an
    export counts them; returns how many were recorded."""
    now = _now(now)
    recorded = 0
    pending = Question.objects.filter(
        session__study=study, is_practice=False, served_at__isnull=False, answer__isnull=True
    )
    for question in pending:
        if _is_overdue(question, now):
            try:
                _record_timeout(question)
                recorded += 1
            except AlreadyAnswered:
                pass  # answered meanwhile; that answer stands
    return recorded


def participant_erase(*, session: QuizSession, reason: str, now: datetime | None = None) -> QuizSession:
    """Erase a participant's personal fields on request; the pseudonymous answers stay, with the reason."""
    if not reason.strip():
        raise ValueError("An erasure needs a reason (e.g. the date and channel of the request).")
    now = _now(now)
    with transaction.atomic():
        session = _locked(session)
        session.profession = ""
        session.years_experience = None
        session.erased_at = now
        session.erasure_reason = reason.strip()
        session.save(update_fields=["profession", "years_experience", "erased_at", "erasure_reason"])
        if session.invite is not None and not session.invite.reusable:
            # A single-use link's label may name the person it was sent to.
            Invite.objects.filter(pk=session.invite_id).update(label="")
    return session
