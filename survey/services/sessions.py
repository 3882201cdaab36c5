"""A session's beginning: the study's bank frozen and a session's questions drawn, consent and start on
an invite, the session moved to another browser with its resume code, the profile, and the quiz begun."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction

from survey import roles
from survey.delivery import bank_pad_bytes
from survey.models import (
    Invite,
    Option,
    Portrait,
    Question,
    QuizSession,
    ShownImage,
    Study,
    new_url_token,
)
from survey.plan_inputs import bank_snapshot, plan_settings_for, study_roles_draw
from survey.planning import PlanError, PlannedQuestion, plan_session
from survey.services._common import _locked, _now, _require_stage, _session_transaction
from survey.services.errors import (
    AlreadyTookPart,
    IdentifierNeeded,
    InviteInUse,
    InviteUnusable,
    StudyClosed,
    StudyNotReady,
    WrongResumeCode,
)

logger = logging.getLogger(__name__)


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
