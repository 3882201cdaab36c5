"""What the package's modules share: the time a step runs at, the session's row lock and a participant
step's transaction (a session that the request locked already, as the API does, is used as it is), and
the check of the session's stage."""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction

from survey import timebase
from survey.models import QuizSession
from survey.services.errors import WrongStage


def _now(now: datetime | None) -> datetime:
    """`now` if the caller gives one (tests, batch jobs), else the time by the one clock (survey/timebase.py)."""
    return now if now is not None else timebase.current()


def _now_of(session: QuizSession, now: datetime | None) -> datetime:
    """`now` if given, else when the locked session was fetched, by the one clock (no extra query)."""
    return now if now is not None else timebase.now_of(session)


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
