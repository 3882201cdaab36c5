"""A coordinator's actions on one participant of a study: end the session, erase the personal fields."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from survey import services
from survey.api.coordinator.scope import StudyScoped
from survey.api.errors import documented
from survey.models import QuizSession


class EndIn(serializers.Serializer):
    reason = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        default="",
        help_text="Kept with the session, e.g. 'link forwarded to a colleague'.",
    )


class ParticipantAction(StudyScoped):
    """A coordinator's action on one participant of the study, with a validated body."""

    def session_and_input(self, participant: str) -> tuple[QuizSession, dict]:
        session = get_object_or_404(QuizSession, study=self.study(), pseudonym=participant)
        data = self.serializer_class(data=self.request.data)
        data.is_valid(raise_exception=True)
        return session, data.validated_data


class EndedOut(serializers.Serializer):
    participant = serializers.CharField(source="pseudonym")
    stage = serializers.CharField()
    ended_at = serializers.DateTimeField(allow_null=True, help_text="Null if the session had already finished.")


class ParticipantEnd(ParticipantAction):
    serializer_class = EndIn

    @extend_schema(request=EndIn, responses=documented({200: EndedOut}, 400, 401, 403, 404))
    def post(self, request, slug: str, participant: str):
        """End a running session: it accepts no more answers; what it answered stays in the study."""
        session, values = self.session_and_input(participant)
        session = services.session_end(session=session, reason=values["reason"])
        return Response(EndedOut(session).data)


class EraseIn(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text="Why, e.g. the date and channel of the request.")


class ErasedOut(serializers.Serializer):
    participant = serializers.CharField()
    erased = serializers.BooleanField(help_text="Always true: the personal fields are gone.")


class ParticipantErase(ParticipantAction):
    serializer_class = EraseIn

    @extend_schema(request=EraseIn, responses=documented({200: ErasedOut}, 400, 401, 403, 404))
    def post(self, request, slug: str, participant: str):
        """Erase a participant's personal fields; their pseudonymous answers stay in the study."""
        session, values = self.session_and_input(participant)
        services.participant_erase(session=session, reason=values["reason"])
        return Response(ErasedOut({"participant": session.pseudonym, "erased": True}).data)
