"""The rules of a quiz session, written once: the HTML flow and the API both call these.

Every write that depends on a session's state locks the session's row first, so two requests of one
participant (a double click, a retry, two tabs) are serialised; the one-answer rule is also a database
constraint, so it holds even where the lock is a no-op (SQLite serialises writers by itself).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from survey import clock, roles, selectors, timebase
from survey.delivery import bank_pad_bytes
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
    new_url_token,
)
from survey.plan_inputs import bank_snapshot, plan_settings_for, study_roles_draw
from survey.planning import PlanError, PlannedQuestion, plan_session
from survey.prepared import PreparedSelect, PreparedUpdate

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


class TooEarly(QuizError):
    """An answer before the question armed: a click meant for the question before it. Nothing is stored."""

    def __init__(self, arming_delay_ms: int):
        super().__init__(
            f"The question was not yet accepting answers (it arms {arming_delay_ms} ms after it is shown)."
        )
        self.arming_delay_ms = arming_delay_ms


class InviteInUse(QuizError):
    """A single-use link whose session runs in another browser: it is not handed over without its resume code."""

    def __init__(self):
        super().__init__(
            "This invitation is already in use in another browser. To continue there, enter the resume code "
            "shown when you started, or ask the study's coordinator for a new link."
        )


class WrongResumeCode(QuizError):
    pass


class AlreadyTookPart(QuizError):
    pass


class IdentifierNeeded(QuizError):
    pass


class SessionEnded(QuizError):
    pass


class InvitesRefused(QuizError):
    """No invites for a study that cannot start a session; `problems` says what is missing."""

    def __init__(self, problems: list[str]):
        super().__init__("This study is not ready for invites: " + " ".join(problems))
        self.problems = problems


class NotExpired(QuizError):
    def __init__(self, remaining_ms: int):
        super().__init__(f"The time for this question has not run out ({remaining_ms} ms left).")
        self.remaining_ms = remaining_ms


def _now(now: datetime | None) -> datetime:
    """`now` if the caller gives one (tests, batch jobs), else the time by the one clock (survey/timebase.py)."""
    return now if now is not None else timebase.current()


def _now_of(session: QuizSession, now: datetime | None) -> datetime:
    """`now` if given, else when the locked session was fetched, by the one clock (no extra query)."""
    return now if now is not None else timebase.now_of(session)


# What a choice may look like before it is compared with anything or kept for audit: an option code.
_choice_max_length = Answer._meta.get_field("choice").max_length
assert _choice_max_length is not None  # Answer.choice is a CharField with a max_length (survey/models.py)
MAX_CHOICE_LENGTH: int = _choice_max_length


def _check_choice_text(choice: str) -> None:
    if len(choice) > MAX_CHOICE_LENGTH or not choice.isprintable():
        raise UnknownOption(f"A choice is an option's code: at most {MAX_CHOICE_LENGTH} printable characters.")


# --- drawing a session's questions ------------------------------------------------------------------


def study_bank_freeze(*, study: Study, now: datetime | None = None) -> Study:
    """Draw every portrait's role once, for the study's lifetime (at its first session, or when the
    coordinator freezes the bank). Portraits added later get no role and are never shown."""
    now = _now(now)
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        if study.bank_frozen_at is not None:
            return study
        try:
            assignment = study_roles_draw(study, bank_snapshot(study, as_of=now))
        except roles.RoleError as error:
            logger.error("Study %s cannot freeze its bank: %s", study.slug, error)
            raise StudyNotReady(str(error)) from None
        by_role: dict[str, list[int]] = {}
        for portrait_id, role in assignment.roles.items():
            by_role.setdefault(role, []).append(portrait_id)
        for role, ids in by_role.items():
            Portrait.objects.filter(pk__in=ids).update(role=role)
        study.bank_frozen_at = now
        study.image_pad_bytes = bank_pad_bytes(study)  # every delivered portrait's length, from now on
        study.save(update_fields=["bank_frozen_at", "image_pad_bytes"])
    return study


def session_plan_rebuild(session: QuizSession) -> list[PlannedQuestion]:
    """The session's questions recomputed from its stored seed (for audits and tests)."""
    return plan_session(
        bank_snapshot(session.study, as_of=session.started_at), plan_settings_for(session.study), session.seed
    )


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
            sequence=planned.sequence,
            time_limit_ms=study.time_limit_ms(planned.category),
            grace_ms=study.grace_ms,
            load_allowance_ms=study.load_allowance_ms,
            transfer_allowance_ms=study.transfer_allowance_ms,
            arming_delay_ms=study.arming_delay_ms,
        )
        for planned in plan
    )
    latent_average_ids = set(Portrait.objects.filter(study=study, kind="latent_average").values_list("id", flat=True))
    images: list[ShownImage] = []
    option_rows: list[tuple[Question, int, str, str, int | None]] = []
    for question, planned in zip(questions, plan, strict=True):
        for slot, portrait_id in enumerate(planned.stimulus_portrait_ids, start=1):
            images.append(
                ShownImage(
                    session=session,
                    question=question,
                    portrait_id=portrait_id,
                    role=ShownImage.Role.STIMULUS,
                    slot=slot,
                    repeatable=portrait_id in latent_average_ids,
                )
            )
        for option in planned.options:
            label = names[option.disorder] if option.disorder else f"Portrait {option.code}"
            option_rows.append((question, option.slot, option.code, label, option.portrait_id))
    option_images = ShownImage.objects.bulk_create(
        ShownImage(
            session=session,
            question=question,
            portrait_id=portrait_id,
            role=ShownImage.Role.OPTION,
            slot=slot,
            repeatable=portrait_id in latent_average_ids,
        )
        for question, slot, _, _, portrait_id in option_rows
        if portrait_id is not None
    )
    ShownImage.objects.bulk_create(images)
    option_image_iter = iter(option_images)
    Option.objects.bulk_create(
        Option(
            question=question,
            slot=slot,
            code=code,
            label=label,
            image=next(option_image_iter) if portrait_id is not None else None,
        )
        for question, slot, code, label, portrait_id in option_rows
    )


# --- a session's life ---------------------------------------------------------------------------------


def _hash(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def participant_key(study: Study, identifier: str) -> str:
    """A participant identifier (e.g. an e-mail) as stored: a keyed hash, case and spaces ignored."""
    return _hash(study.secret, " ".join(identifier.split()).casefold())


def resume_code_issue(*, session: QuizSession) -> str:
    """A fresh one-time resume code for the session, to show its participant once; only its hash is kept,
    and any earlier code stops working."""
    code = "-".join(secrets.token_hex(2).upper() for _ in range(3))
    QuizSession.objects.filter(pk=session.pk).update(resume_code_hash=_hash(session.study.secret, code))
    return code


def invite_check(*, invite: Invite, now: datetime | None = None) -> None:
    if not invite.is_usable_at(_now(now)):
        raise InviteUnusable("This invitation link has expired or was withdrawn.")


def session_of_holder(*, invite: Invite, holder: QuizSession | None, now: datetime | None = None) -> QuizSession | None:
    """The session that this browser or client (`holder`, from its cookie or token) already runs on this
    link: it comes back to it. Nobody else is handed a session. A withdrawn or expired link raises."""
    invite_check(invite=invite, now=now)
    return holder if holder is not None and holder.invite_id == invite.pk else None


def invite_session(invite: Invite) -> QuizSession | None:
    """The session a single-use link has started, if any (a reusable link starts one per person)."""
    return None if invite.reusable else invite.sessions.first()


def session_start(*, invite: Invite, participant_id: str = "", now: datetime | None = None) -> QuizSession:
    """Consent given on an invite: draw a new session.

    A single-use link that already started a session refuses (InviteInUse): the session belongs to the
    browser or token that started it, and moves only with its resume code (session_resume). A reusable
    link of a study that requires it needs the participant's identifier, and refuses a second attempt.
    """
    now = _now(now)
    with transaction.atomic():
        invite = Invite.objects.select_for_update().select_related("study").get(pk=invite.pk)
        invite_check(invite=invite, now=now)
        if invite_session(invite) is not None:
            raise InviteInUse()
        study = invite.study
        if not study.is_open:
            raise StudyClosed("This study is not accepting participants at the moment.")
        key = ""
        if invite.reusable and study.require_participant_id:
            if not participant_id.strip():
                raise IdentifierNeeded("This link asks for your participant identifier (e.g. your e-mail address).")
            key = participant_key(study, participant_id)
        study = study_bank_freeze(study=study, now=now)
        session = QuizSession(study=study, invite=invite, consented_at=now, started_at=now, participant_key=key)
        try:
            with transaction.atomic():
                session.save()
        except IntegrityError:  # session_one_attempt_per_participant: this identifier has a session already
            raise AlreadyTookPart("You have already taken part in this study: each person takes it once.") from None
        try:
            plan = plan_session(bank_snapshot(study, as_of=now), plan_settings_for(study), session.seed)
        except PlanError as error:
            logger.error("Study %s cannot start a session: %s", study.slug, error)
            raise StudyNotReady(str(error)) from None  # the transaction rolls the session back
        _questions_create(session, plan)
    return session


def session_resume(*, invite: Invite, code: str, now: datetime | None = None) -> QuizSession:
    """Move a single-use link's session to the browser or client that presents its resume code.

    The old access token stops working and the code is spent: the caller gets the session with a new
    token, and issues the participant a new code (resume_code_issue).
    """
    now = _now(now)
    with transaction.atomic():
        invite = Invite.objects.select_for_update().select_related("study").get(pk=invite.pk)
        invite_check(invite=invite, now=now)
        session = invite_session(invite)
        if session is None:
            raise WrongResumeCode("This invitation has not been used yet: there is nothing to resume.")
        session = _locked(session)
        given = _hash(session.study.secret, code.strip().upper())
        if not session.resume_code_hash or not hmac.compare_digest(given, session.resume_code_hash):
            raise WrongResumeCode("That resume code is not right for this invitation.")
        session.access_token = new_url_token()
        session.resume_code_hash = ""
        session.save(update_fields=["access_token", "resume_code_hash"])
    return session


def session_end(*, session: QuizSession, reason: str, now: datetime | None = None) -> QuizSession:
    """A coordinator ends a running session: it accepts nothing more; what was answered stays."""
    now = _now(now)
    with transaction.atomic():
        session = _locked(session)
        if session.stage == QuizSession.Stage.FINISHED:
            return session
        session.stage = QuizSession.Stage.FINISHED
        session.finished_at = session.ended_at = now
        session.end_reason = reason.strip()[:300] or "ended by a coordinator"
        session.save(update_fields=["stage", "finished_at", "ended_at", "end_reason"])
    return session


def invite_revoke(*, invite: Invite, end_sessions: bool = False, now: datetime | None = None) -> int:
    """Withdraw a link; with end_sessions, also end the sessions started from it. Returns how many ended."""
    now = _now(now)
    Invite.objects.filter(pk=invite.pk, revoked_at__isnull=True).update(revoked_at=now)
    ended = 0
    if end_sessions:
        for session in invite.sessions.exclude(stage=QuizSession.Stage.FINISHED):
            session_end(session=session, reason="its invitation link was withdrawn", now=now)
            ended += 1
    return ended


def lock_in_request(session: QuizSession) -> QuizSession:
    """Mark a session that the request fetched FOR UPDATE inside its own outermost transaction (the API's
    participant authentication): `_locked` then uses it as it is instead of fetching it again."""
    session._locked_by = connection.atomic_blocks[0]
    return session


def _locked_by_request(session: QuizSession) -> bool:
    blocks = connection.atomic_blocks
    return bool(blocks) and getattr(session, "_locked_by", None) is blocks[0]


def _session_transaction(session: QuizSession):
    """A participant step's transaction. In a request that locked the session in its own transaction (the
    API), that transaction is the step's: no savepoint of its own (two queries less), and a refusal rolls
    the request back, which does nothing else but answer the refusal. Elsewhere a transaction, or a
    savepoint inside the caller's, as usual."""
    return transaction.atomic(savepoint=not _locked_by_request(session))


def _locked(session: QuizSession) -> QuizSession:
    """The session's row, locked until the transaction ends (PostgreSQL; SQLite's writers are serialised
    by its write lock), with the clock's time of the fetch. Only the session's row is locked, not its
    study's: every participant of a study locks that one row otherwise."""
    if _locked_by_request(session):
        return session  # fetched FOR UPDATE by this request, in this very transaction
    locking = QuizSession.objects.select_for_update(of=("self",)).select_related("study")
    return timebase.with_clock(locking).get(pk=session.pk)


def _require_stage(session: QuizSession, *stages: str) -> None:
    if session.stage not in stages:
        raise WrongStage("That step is not available at this point of the survey.")


def session_profile_submit(
    *, session: QuizSession, profession: str, years_experience: int, now: datetime | None = None
) -> QuizSession:
    with _session_transaction(session):
        session = _locked(session)
        _require_stage(session, QuizSession.Stage.PROFILE)
        session.profession = profession
        session.years_experience = years_experience
        session.stage = QuizSession.Stage.PRACTICE
        session.save(update_fields=["profession", "years_experience", "stage"])
    return session


def session_quiz_begin(*, session: QuizSession) -> QuizSession:
    with _session_transaction(session):
        session = _locked(session)
        _require_stage(session, QuizSession.Stage.PRACTICE)
        session.stage = QuizSession.Stage.QUIZ
        session.save(update_fields=["stage"])
    return session


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


def _image_delivered(shown_id: int, at: datetime) -> tuple[QuerySet[ShownImage], dict]:
    return ShownImage.objects.filter(pk=shown_id, delivered_at__isnull=True), {"delivered_at": at}


def _image_delivered_now(shown_id: int) -> tuple[QuerySet[ShownImage], dict]:
    return ShownImage.objects.filter(pk=shown_id, delivered_at__isnull=True), {"delivered_at": Now()}


def _question_all_delivered(question_id: int) -> QuerySet[Question]:
    """The question, if none of its portraits is left undelivered and that is not yet recorded."""
    undelivered = ShownImage.objects.filter(question_id=OuterRef("pk"), delivered_at__isnull=True)
    return Question.objects.filter(pk=question_id, portraits_delivered_at__isnull=True).exclude(Exists(undelivered))


def _question_delivered(question_id: int, at: datetime) -> tuple[QuerySet[Question], dict]:
    return _question_all_delivered(question_id), {"portraits_delivered_at": at}


def _question_delivered_now(question_id: int) -> tuple[QuerySet[Question], dict]:
    return _question_all_delivered(question_id), {"portraits_delivered_at": Now()}


# Every portrait request writes these: compiled once, stamped by the database's clock or by a given time.
_IMAGE_DELIVERED = PreparedUpdate(_image_delivered)
_IMAGE_DELIVERED_NOW = PreparedUpdate(_image_delivered_now)
_QUESTION_DELIVERED = PreparedUpdate(_question_delivered)
_QUESTION_DELIVERED_NOW = PreparedUpdate(_question_delivered_now)


def portrait_delivered(*, shown: ShownImage, now: datetime | None = None) -> None:
    """The server has sent a portrait to its participant. Once every portrait of the question has gone,
    the question's clock starts at the latest a transfer allowance later (survey/clock.py). Stamped by
    the one clock, written by the database itself on PostgreSQL (`Now()`: survey/timebase.py)."""
    if shown.delivered_at is not None:
        return
    if now is None and timebase.uses_database_clock():
        if _IMAGE_DELIVERED_NOW.run(shown.pk):
            _QUESTION_DELIVERED_NOW.run(shown.question_id)
        return
    at = now if now is not None else timezone.now()
    if _IMAGE_DELIVERED.run(shown.pk, at):
        _QUESTION_DELIVERED.run(shown.question_id, at)


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


def invites_issue(
    *,
    study: Study,
    count: int,
    label: str = "",
    numbered: bool = False,
    reusable: bool = False,
    expires_at: datetime | None = None,
) -> list[Invite]:
    """`count` invite links, all labelled `label` or, when `numbered`, "label 01", "label 02", ...

    Refused (InvitesRefused, with the problems) while the study cannot start a session: an expert would
    consent and then meet "not ready".
    """
    problems = selectors.study_readiness(study)
    if problems:
        raise InvitesRefused(problems)
    width = len(str(count))
    label = label.strip()
    return Invite.objects.bulk_create(
        Invite(
            study=study,
            reusable=reusable,
            expires_at=expires_at,
            label=f"{label} {number:0{width}d}" if numbered and label else label,
        )
        for number in range(1, count + 1)
    )


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
            assert session.invite_id is not None  # the session has its invite (above), so the invite's key
            Invite.objects.filter(pk=session.invite_id).update(label="")
    return session
