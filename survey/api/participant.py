"""The participant API: the same quiz as the HTML flow, through the same services.

Nothing returned here says whether an answer was right, which portrait is real, or where an image lives
beyond its opaque per-session URL.
"""

from __future__ import annotations

from dataclasses import asdict

from django.db import connection, transaction
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from survey import selectors, services, timebase
from survey.api.auth import IsParticipant, ParticipantAuthentication, session_from_authorization
from survey.forms import ProfileForm
from survey.models import Answer, Invite, QuizSession
from survey.security import invite_attempt_allowed
from survey.selectors import QuestionView

PROFESSIONS = [value for value, _ in ProfileForm.base_fields["profession"].choices if value]


class ParticipantView(APIView):
    authentication_classes = [ParticipantAuthentication]
    permission_classes = [IsParticipant]
    # Views that change the session: on PostgreSQL the whole request is one transaction, and the query that
    # authenticates the participant also locks their session's row (survey/api/auth.py), so the services
    # do not fetch it again. SQLite has no row locks: there the services lock as they always do.
    locks_session = False

    def dispatch(self, request, *args, **kwargs):
        if self.locks_session and connection.features.has_select_for_update:
            with transaction.atomic():
                return super().dispatch(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    @property
    def quiz_session(self) -> QuizSession:
        return self.request.auth


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    message = serializers.CharField()


def refusal(error: services.QuizError, code: str, http_status: int, **extra) -> Response:
    return Response({"error": code, "message": str(error), **extra}, status=http_status)


def outcome_payload(answer: Answer) -> dict:
    return {"outcome": answer.outcome}


# --- starting a session ---------------------------------------------------------------------------------


class SessionStartIn(serializers.Serializer):
    invite = serializers.CharField(max_length=64, help_text="The token from the invite link.")
    consent = serializers.BooleanField(help_text="Must be true: the participant agreed to the study's consent text.")
    profession = serializers.ChoiceField(choices=PROFESSIONS)
    years_experience = serializers.IntegerField(min_value=0, max_value=70)
    participant_id = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="",
        help_text="Reusable links of studies that allow one attempt per person: the participant's identifier.",
    )
    resume_code = serializers.CharField(
        max_length=20, required=False, allow_blank=True, default="",
        help_text="Resume a single-use link's running session elsewhere: the code returned when it started.",
    )

    def validate_consent(self, value: bool) -> bool:
        if not value:
            raise ValidationError("The participant must agree to the consent text.")
        return value


class SessionOut(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>` on every later call.")
    participant = serializers.CharField()
    stage = serializers.CharField()
    resume_code = serializers.CharField(
        help_text="One-time code that moves this session to another client (POST again with it); keep it."
    )


def _start_or_resume(invite: Invite, data: dict, holder: QuizSession | None) -> tuple[QuizSession, bool]:
    """(session, resumed). A single-use link's session is resumed only by the client holding its token, or
    with its resume code: it is never handed to whoever has the link."""
    held = services.session_of_holder(invite=invite, holder=holder)
    if held is not None:
        return held, True
    if data["resume_code"]:
        return services.session_resume(invite=invite, code=data["resume_code"]), True
    session = services.session_start(invite=invite, participant_id=data["participant_id"])
    if session.stage == QuizSession.Stage.PROFILE:
        session = services.session_profile_submit(
            session=session, profession=data["profession"], years_experience=data["years_experience"])
    return session, False


class SessionStart(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(request=SessionStartIn, responses={201: SessionOut, 200: SessionOut, 400: ErrorSerializer,
                                                       404: ErrorSerializer, 409: ErrorSerializer,
                                                       410: ErrorSerializer, 429: ErrorSerializer})
    def post(self, request):
        if not invite_attempt_allowed(request):
            return Response({"error": "rate_limited", "message": "Too many invite attempts; try again later."},
                            status=status.HTTP_429_TOO_MANY_REQUESTS)
        data = SessionStartIn(data=request.data)
        data.is_valid(raise_exception=True)
        invite = get_object_or_404(Invite, token=data.validated_data["invite"])
        holder = session_from_authorization(request.META.get("HTTP_AUTHORIZATION", ""))
        try:
            with transaction.atomic():
                session, resumed = _start_or_resume(invite, data.validated_data, holder)
        except services.InviteInUse as error:
            return refusal(error, "invite_in_use", status.HTTP_409_CONFLICT)
        except (services.WrongResumeCode, services.AlreadyTookPart) as error:
            return refusal(error, "refused", status.HTTP_409_CONFLICT)
        except services.IdentifierNeeded as error:
            return Response({"participant_id": [str(error)]}, status=status.HTTP_400_BAD_REQUEST)
        except services.QuizError as error:
            return refusal(error, "unavailable", status.HTTP_410_GONE)
        body = {"token": session.access_token, "participant": session.pseudonym, "stage": session.stage,
                "resume_code": services.resume_code_issue(session=session)}
        return Response(body, status=status.HTTP_200_OK if resumed else status.HTTP_201_CREATED)


class SessionStateOut(serializers.Serializer):
    participant = serializers.CharField()
    stage = serializers.CharField()
    answered = serializers.IntegerField()
    total = serializers.IntegerField()


def session_state(session: QuizSession) -> Response:
    timed = session.questions.filter(is_practice=False)
    return Response({"participant": session.pseudonym, "stage": session.stage,
                     "answered": timed.filter(answer__isnull=False).count(), "total": timed.count()})


class SessionState(ParticipantView):
    @extend_schema(responses=SessionStateOut)
    def get(self, request):
        return session_state(self.quiz_session)


class SessionBegin(ParticipantView):
    locks_session = True

    @extend_schema(request=None, responses={200: SessionStateOut, 409: ErrorSerializer})
    def post(self, request):
        try:
            session = services.session_quiz_begin(session=self.quiz_session)  # the session as it now is
        except services.WrongStage as error:
            return refusal(error, "wrong_stage", status.HTTP_409_CONFLICT)
        return session_state(session)


# --- questions ------------------------------------------------------------------------------------------


class OptionOut(serializers.Serializer):
    slot = serializers.IntegerField()
    code = serializers.CharField()
    label = serializers.CharField()
    image_url = serializers.CharField(allow_null=True)


class PracticeResultOut(serializers.Serializer):
    outcome = serializers.CharField()
    right = serializers.BooleanField(allow_null=True)
    chosen_label = serializers.CharField()
    correct_label = serializers.CharField()


class IntroOut(serializers.Serializer):
    category = serializers.CharField()
    label = serializers.CharField()
    task = serializers.CharField()
    part = serializers.IntegerField()
    parts = serializers.IntegerField()
    n_questions = serializers.IntegerField()
    time_limit_s = serializers.IntegerField()
    is_practice = serializers.BooleanField()
    practice_result = PracticeResultOut(allow_null=True)


class QuestionOut(serializers.Serializer):
    id = serializers.IntegerField()
    practice = serializers.BooleanField()
    position = serializers.IntegerField()
    total = serializers.IntegerField()
    category = serializers.CharField()
    prompt = serializers.CharField()
    stimulus_urls = serializers.ListField(child=serializers.CharField())
    options = OptionOut(many=True)
    time_limit_ms = serializers.IntegerField()
    load_allowance_ms = serializers.IntegerField()
    clock_running = serializers.BooleanField()
    remaining_ms = serializers.IntegerField(allow_null=True)
    latest_remaining_ms = serializers.IntegerField(help_text="Time left at the latest, even before the clock starts.")
    arming_delay_ms = serializers.IntegerField(help_text="Answers sooner than this after the clock starts are refused.")
    category_label = serializers.CharField()
    intro = IntroOut(allow_null=True, help_text="Set when this question opens a category or its timed part.")


def image_url(token: str) -> str:
    return reverse("survey:portrait", args=[token])


def question_payload(view: QuestionView, intro: selectors.CategoryIntro | None = None) -> dict:
    return {
        "intro": None if intro is None else asdict(intro),
        "id": view.id, "practice": view.is_practice, "position": view.position, "total": view.total,
        "category": view.category, "prompt": view.prompt,
        "stimulus_urls": [image_url(t) for t in view.stimulus_tokens],
        "options": [{"slot": o.slot, "code": o.code, "label": o.label,
                     "image_url": image_url(o.image_token) if o.image_token else None} for o in view.options],
        "time_limit_ms": view.time_limit_ms, "load_allowance_ms": view.load_allowance_ms,
        "clock_running": view.clock_running, "remaining_ms": view.remaining_ms,
        "latest_remaining_ms": view.latest_remaining_ms, "arming_delay_ms": view.arming_delay_ms,
        "category_label": view.category_label,
    }


class CurrentQuestion(ParticipantView):
    locks_session = True  # it serves the question the first time it is asked for

    @extend_schema(responses={200: QuestionOut, 204: OpenApiResponse(description="The session is finished."),
                              409: ErrorSerializer})
    def get(self, request):
        """The current question, practice included; `intro` says when it opens a category (or its timed part)."""
        try:
            question = services.session_current_question(session=self.quiz_session)
        except services.WrongStage as error:
            return refusal(error, "wrong_stage", status.HTTP_409_CONFLICT)
        if question is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        # The introduction goes with the request that serves a block's first question.
        intro = selectors.category_intro(question, being_served=True) if getattr(question, "served_now", False) else None
        return Response(question_payload(selectors.question_view(question, now=timebase.now_of(self.quiz_session)), intro))


class ClockOut(serializers.Serializer):
    remaining_ms = serializers.IntegerField()


class OutcomeOut(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["answered", "skipped", "timeout"])


class AnswerIn(serializers.Serializer):
    choice = serializers.CharField(max_length=64, help_text="The chosen option's code.")


class QuestionAction(ParticipantView):
    """Shared refusal handling for the calls that act on one question."""

    locks_session = True

    def act(self, action) -> Response:
        try:
            return action()
        except services.AlreadyAnswered as refused:
            return refusal(refused, "already_answered", status.HTTP_409_CONFLICT, **outcome_payload(refused.answer))
        except services.UnknownOption as error:
            return Response({"choice": [str(error)]}, status=status.HTTP_400_BAD_REQUEST)
        except services.NotExpired as error:
            return refusal(error, "not_expired", status.HTTP_409_CONFLICT, remaining_ms=error.remaining_ms)
        except services.TooEarly as error:
            return refusal(error, "too_early", status.HTTP_409_CONFLICT, arming_delay_ms=error.arming_delay_ms)
        except services.SessionEnded as error:
            return refusal(error, "session_ended", status.HTTP_409_CONFLICT)
        except services.QuestionNotCurrent as error:
            return refusal(error, "not_current", status.HTTP_409_CONFLICT)
        except services.WrongStage as error:
            return refusal(error, "wrong_stage", status.HTTP_409_CONFLICT)


class QuestionStart(QuestionAction):
    @extend_schema(request=None, responses={200: ClockOut, 409: ErrorSerializer})
    def post(self, request, question_id: int):
        def start():
            question = services.question_clock_start(session=self.quiz_session, question_id=question_id)
            return Response({"remaining_ms": selectors.remaining_ms(question, question.stamped_at)})
        return self.act(start)


class QuestionAnswer(QuestionAction):
    @extend_schema(request=AnswerIn, responses={200: OutcomeOut, 400: ErrorSerializer, 409: ErrorSerializer})
    def post(self, request, question_id: int):
        data = AnswerIn(data=request.data)
        data.is_valid(raise_exception=True)
        choice = data.validated_data["choice"]
        return self.act(lambda: Response(outcome_payload(
            services.answer_submit(session=self.quiz_session, question_id=question_id, choice=choice))))


class QuestionSkip(QuestionAction):
    @extend_schema(request=None, responses={200: OutcomeOut, 409: ErrorSerializer})
    def post(self, request, question_id: int):
        return self.act(lambda: Response(outcome_payload(
            services.answer_submit(session=self.quiz_session, question_id=question_id, choice=None))))


class QuestionExpire(QuestionAction):
    @extend_schema(request=None, responses={200: OutcomeOut, 409: ErrorSerializer})
    def post(self, request, question_id: int):
        return self.act(lambda: Response(outcome_payload(
            services.question_expire(session=self.quiz_session, question_id=question_id))))


class ScoreOut(serializers.Serializer):
    category = serializers.CharField()
    answered = serializers.IntegerField()
    correct = serializers.IntegerField()
    skipped = serializers.IntegerField()
    timed_out = serializers.IntegerField()


class Scores(ParticipantView):
    @extend_schema(responses={200: ScoreOut(many=True), 403: ErrorSerializer})
    def get(self, request):
        session = self.quiz_session
        if session.stage != QuizSession.Stage.FINISHED or not session.study.show_feedback:
            return Response({"error": "no_feedback", "message": "Scores are shown only after the last question, "
                             "and only if the study allows it."}, status=status.HTTP_403_FORBIDDEN)
        return Response([{"category": s.category, "answered": s.answered, "correct": s.correct,
                          "skipped": s.skipped, "timed_out": s.timed_out} for s in selectors.session_scores(session)])
