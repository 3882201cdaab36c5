"""Who is calling the API: a participant (their session's access token) or a coordinator (staff, DRF token)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from survey.access import PARTICIPANT_KEYWORD, bearer_token, session_with_token
from survey.access import coordinated_study, studies_for  # noqa: F401  (the coordinator API's fence)
from survey.models import QuizSession


def session_from_authorization(header: str) -> QuizSession | None:
    """The session named by `Authorization: Bearer <access token>`, if any."""
    token = bearer_token(header)
    return session_with_token(token) if token is not None else None


class ParticipantAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` with the token returned when the session started."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith(PARTICIPANT_KEYWORD + " "):
            return None
        session = session_from_authorization(header)
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
        return {"type": "http", "scheme": "bearer", "description": "The token returned by POST /api/participant/sessions/."}


class IsStaff(permissions.IsAdminUser):
    message = "Coordinator endpoints need a staff account's token."

