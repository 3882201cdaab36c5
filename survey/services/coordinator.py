"""The coordinator's writes: invite links issued and withdrawn, a running session ended, a participant's
personal fields erased on request."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from survey import selectors
from survey.models import Invite, QuizSession, Study
from survey.services._common import _locked, _now
from survey.services.errors import InvitesRefused


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
