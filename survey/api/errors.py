"""The API's one exception handler: each refusal of the domain (survey/services/errors.py, the image bank) becomes
the same status and body wherever it is raised, so views raise and never catch.

Bodies, as clients have always seen them:
- a refusal: `{"error": <code>, "message": <sentence for the participant>}` (409, 410 or 429), with what the
  client needs to recover (`outcome` of the first answer, `remaining_ms`, `arming_delay_ms`);
- bad input: DRF's field errors, `{"<field>": ["<what is wrong>"]}` (400);
- everything else DRF raises (401, 403, 404, parse errors): DRF's `{"detail": "..."}`.

The error bodies are built by the serializers below, which the schema names too (`documented`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from survey import services
from survey.image_bank import ImportRejected


@dataclass(frozen=True)
class Refusal:
    """How one kind of refusal is answered: its status, its code, and what else the client is told."""

    status: int
    code: str
    extra: Callable[[Exception], dict] = field(default=lambda error: {})


# Every QuizError the services raise, by the client's code for it (a test checks none is left out).
REFUSALS: dict[type[services.QuizError], Refusal] = {
    services.InviteInUse: Refusal(status.HTTP_409_CONFLICT, "invite_in_use"),
    services.WrongResumeCode: Refusal(status.HTTP_409_CONFLICT, "refused"),
    services.AlreadyTookPart: Refusal(status.HTTP_409_CONFLICT, "refused"),
    services.InviteUnusable: Refusal(status.HTTP_410_GONE, "unavailable"),
    services.StudyClosed: Refusal(status.HTTP_410_GONE, "unavailable"),
    services.StudyNotReady: Refusal(status.HTTP_410_GONE, "unavailable"),
    services.WrongStage: Refusal(status.HTTP_409_CONFLICT, "wrong_stage"),
    services.SessionEnded: Refusal(status.HTTP_409_CONFLICT, "session_ended"),
    services.QuestionNotCurrent: Refusal(status.HTTP_409_CONFLICT, "not_current"),
    services.AlreadyAnswered: Refusal(
        status.HTTP_409_CONFLICT, "already_answered", lambda error: {"outcome": error.answer.outcome}
    ),
    services.NotExpired: Refusal(
        status.HTTP_409_CONFLICT, "not_expired", lambda error: {"remaining_ms": error.remaining_ms}
    ),
    services.TooEarly: Refusal(
        status.HTTP_409_CONFLICT, "too_early", lambda error: {"arming_delay_ms": error.arming_delay_ms}
    ),
}

# Refusals that are about one field of the request: answered as DRF's field errors (400).
FIELD_ERRORS: dict[type[Exception], str] = {
    services.IdentifierNeeded: "participant_id",
    services.UnknownOption: "choice",
}


class ApiRefused(APIException):
    """A refusal decided by the API itself, not by a service (too many invite attempts, scores withheld)."""

    def __init__(self, http_status: int, code: str, message: str):
        super().__init__(message, code)
        self.status_code = http_status
        self.refusal_code = code


class ErrorSerializer(serializers.Serializer):
    """A refusal: its code for programs, its message for people, and what the client needs to recover."""

    error = serializers.CharField()
    message = serializers.CharField()
    outcome = serializers.CharField(required=False, help_text="already_answered: the first answer's outcome.")
    remaining_ms = serializers.IntegerField(required=False, help_text="not_expired: time left on the question.")
    arming_delay_ms = serializers.IntegerField(required=False, help_text="too_early: when the question arms.")


class ReadinessOut(serializers.Serializer):
    ready = serializers.BooleanField()
    problems = serializers.ListField(child=serializers.CharField())


class DetailOut(serializers.Serializer):
    """DRF's own errors: not signed in, not allowed, no such object, a body it cannot parse."""

    detail = serializers.CharField()


def refusal_body(code: str, message: str, **extra) -> dict:
    return ErrorSerializer({"error": code, "message": message, **extra}).data


def refusal_for(exc: Exception) -> Refusal | None:
    """The table's answer for this error, or for the nearest of its base classes that has one."""
    return next((REFUSALS[kind] for kind in type(exc).__mro__ if kind in REFUSALS), None)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """`REST_FRAMEWORK["EXCEPTION_HANDLER"]`: the domain's refusals by table, the rest as DRF answers them."""
    if isinstance(exc, ImportRejected):
        exc = ValidationError({"manifest": exc.problems})
    elif type(exc) in FIELD_ERRORS:
        exc = ValidationError({FIELD_ERRORS[type(exc)]: [str(exc)]})
    elif isinstance(exc, services.InvitesRefused):
        set_rollback()
        return Response(ReadinessOut({"ready": False, "problems": exc.problems}).data, status=status.HTTP_409_CONFLICT)
    elif (refusal := refusal_for(exc)) is not None:
        set_rollback()
        return Response(refusal_body(refusal.code, str(exc), **refusal.extra(exc)), status=refusal.status)
    elif isinstance(exc, ApiRefused):
        set_rollback()
        return Response(refusal_body(exc.refusal_code, str(exc.detail)), status=exc.status_code)
    return drf_exception_handler(exc, context)


# --- what the schema says each status answers ------------------------------------------------------------

ERROR_RESPONSES: dict[int, OpenApiResponse] = {
    400: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="Bad input: each field with what is wrong with it "
        '(`{"<field>": ["..."]}`), or `{"detail": "..."}` for a body that is not JSON.',
    ),
    401: OpenApiResponse(DetailOut, description="No credentials, or unknown ones."),
    403: OpenApiResponse(DetailOut, description="Not allowed."),
    404: OpenApiResponse(DetailOut, description="No such object (or not one of yours), or no such page of a list."),
    405: OpenApiResponse(
        ErrorSerializer, description="Not with this method: a spreadsheet is queued with POST (`error`: `use_post`)."
    ),
    409: OpenApiResponse(ErrorSerializer, description="Refused by the study's rules; `error` says which."),
    410: OpenApiResponse(ErrorSerializer, description="The invitation or the study cannot start a session."),
    429: OpenApiResponse(ErrorSerializer, description="Too many attempts from this address; try again later."),
}


def documented(ok: dict, *errors: int) -> dict:
    """`extend_schema(responses=...)`: the success responses and the named error statuses' bodies."""
    return {**ok, **{code: ERROR_RESPONSES[code] for code in errors}}
