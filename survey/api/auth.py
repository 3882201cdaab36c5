"""Who is calling the API: a participant (their session's access token) or a coordinator (staff, DRF token)."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from survey import timebase
from survey.access import PARTICIPANT_KEYWORD, bearer_token, coordinated_study, studies_for  # noqa: F401  (the coordinator API's fence)
from survey.models import QuizSession
from survey.prepared import PreparedSelect
from survey.services import lock_in_request


def _sessions_with_token(token: str) -> QuerySet[QuizSession]:
    # Not with its study: no per-question step reads it (the few that do load it when they need it).
    return timebase.with_clock(QuizSession.objects.filter(access_token=token))


def _session_with_token(token: str) -> QuerySet[QuizSession]:
    return _sessions_with_token(token)[:1]


def _session_with_token_locked(token: str) -> QuerySet[QuizSession]:
    return _sessions_with_token(token).select_for_update(of=("self",))[:1]


# Every participant request starts with one of these: compiled once (survey/prepared.py).
_SESSION = PreparedSelect(_session_with_token, variant=timebase.uses_database_clock)
_SESSION_LOCKED = PreparedSelect(_session_with_token_locked, variant=timebase.uses_database_clock)


def session_from_authorization(header: str, *, lock: bool = False) -> QuizSession | None:
    """The session named by `Authorization: Bearer <access token>`, if any, with the clock's time
    (survey/timebase.py). With `lock`, inside a transaction on a database with row locks, its row is
    locked FOR UPDATE in the same query, and the services use it without fetching it again."""
    token = bearer_token(header)
    if token is None:
        return None
    lock = lock and connection.in_atomic_block and connection.features.has_select_for_update
    found = (_SESSION_LOCKED if lock else _SESSION).run(token)
    session = found[0] if found else None
    return lock_in_request(session) if lock and session is not None else session


class ParticipantAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` with the token returned when the session started. A view with
    `locks_session` runs in one transaction (survey/api/participant.py) and gets the session locked."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith(PARTICIPANT_KEYWORD + " "):
            return None
        view = request.parser_context.get("view") if request.parser_context else None
        session = session_from_authorization(header, lock=getattr(view, "locks_session", False))
        if session is None:
            raise exceptions.AuthenticationFailed("Unknown or withdrawn participant token.")
        return (None, session)

    def authenticate_header(self, request) -> str:
        return PARTICIPANT_KEYWORD


class IsParticipant(permissions.BasePermission):
    message = "A participant token is needed: start a session with an invite first."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, QuizSession)


class ParticipantAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ParticipantAuthentication
    name = "participantToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The token returned by POST /api/participant/sessions/.",
        }


class IsStaff(permissions.IsAdminUser):
    message = "Coordinator endpoints need a staff account's token."
