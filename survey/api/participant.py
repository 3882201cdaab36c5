"""The participant API: the same quiz as the HTML flow, through the same services.

Nothing returned here says whether an answer was right, which portrait is real, or where an image lives
beyond its opaque per-session URL.

Every response body is its output serializer's `.data`, the same serializer the schema names, so the schema
cannot drift from what is sent. Views raise the services' refusals; survey/api/errors.py answers them.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from survey.api.errors import ApiRefused, ErrorSerializer, documented
from survey.models import Invite, Outcome, Profession, QuizSession
from survey.security import invite_attempt_allowed
from survey.selectors import CategoryIntro, QuestionView


class ResponseBody(serializers.Serializer):
    """A response body's serializer whose fields are bound once per class instead of on every response.

    DRF deep-copies and binds every declared field (nested serializers included) for each serializer it
    creates: about a millisecond for a question with its options, more than building the question. These
    only turn a dataclass into JSON: no input, no context, no state kept between calls, so one set of bound
    fields (their parent a data-less instance of the class) serves every response; the schema reads the
    same fields.
    """

    @property
    def fields(self):
        cls = type(self)
        bound = cls.__dict__.get("_bound_fields")
        if bound is None:
            bound = serializers.Serializer.fields.func(cls())  # bound to an instance that holds no data
            cls._bound_fields = bound
        return bound


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


# --- starting a session ---------------------------------------------------------------------------------


class SessionStartIn(serializers.Serializer):
    invite = serializers.CharField(max_length=64, help_text="The token from the invite link.")
    consent = serializers.BooleanField(help_text="Must be true: the participant agreed to the study's consent text.")
    profession = serializers.ChoiceField(choices=Profession.values)
    years_experience = serializers.IntegerField(min_value=0, max_value=70)
    participant_id = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Reusable links of studies that allow one attempt per person: the participant's identifier.",
    )
    resume_code = serializers.CharField(
        max_length=20,
        required=False,
        allow_blank=True,
        default="",
        help_text="Resume a single-use link's running session elsewhere: the code returned when it started.",
    )

    def validate_consent(self, value: bool) -> bool:
        if not value:
            raise ValidationError("The participant must agree to the consent text.")
        return value


@dataclass(frozen=True)
class StartedSession:
    session: QuizSession
    resume_code: str  # shown once: only its hash is kept


class SessionOut(serializers.Serializer):
    token = serializers.CharField(
        source="session.access_token", help_text="Send as `Authorization: Bearer <token>` on every later call."
    )
    participant = serializers.CharField(source="session.pseudonym")
    stage = serializers.CharField(source="session.stage")
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
            session=session, profession=data["profession"], years_experience=data["years_experience"]
        )
    return session, False


class SessionStart(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        request=SessionStartIn, responses=documented({201: SessionOut, 200: SessionOut}, 400, 404, 409, 410, 429)
    )
    def post(self, request):
        if not invite_attempt_allowed(request):
            raise ApiRefused(
                status.HTTP_429_TOO_MANY_REQUESTS, "rate_limited", "Too many invite attempts; try again later."
            )
        data = SessionStartIn(data=request.data)
        data.is_valid(raise_exception=True)
        invite = get_object_or_404(Invite, token=data.validated_data["invite"])
        holder = session_from_authorization(request.META.get("HTTP_AUTHORIZATION", ""))
        with transaction.atomic():
            session, resumed = _start_or_resume(invite, data.validated_data, holder)
        started = StartedSession(session, resume_code=services.resume_code_issue(session=session))
        return Response(SessionOut(started).data, status=status.HTTP_200_OK if resumed else status.HTTP_201_CREATED)


@dataclass(frozen=True)
class SessionProgress:
    participant: str
    stage: str
    answered: int  # timed questions with an outcome
    total: int  # timed questions of the session


def session_progress(session: QuizSession) -> SessionProgress:
    timed = session.questions.filter(is_practice=False)
    return SessionProgress(
        participant=session.pseudonym,
        stage=session.stage,
        answered=timed.filter(answer__isnull=False).count(),
        total=timed.count(),
    )


class SessionStateOut(ResponseBody):
    participant = serializers.CharField()
    stage = serializers.CharField()
    answered = serializers.IntegerField()
    total = serializers.IntegerField()


class SessionState(ParticipantView):
    @extend_schema(responses=documented({200: SessionStateOut}, 401))
    def get(self, request):
        return Response(SessionStateOut(session_progress(self.quiz_session)).data)


class SessionBegin(ParticipantView):
    locks_session = True

    @extend_schema(request=None, responses=documented({200: SessionStateOut}, 401, 409))
    def post(self, request):
        session = services.session_quiz_begin(session=self.quiz_session)  # the session as it now is
        return Response(SessionStateOut(session_progress(session)).data)


# --- questions ------------------------------------------------------------------------------------------


class PortraitUrlField(serializers.CharField):
    """A shown portrait's opaque per-session token, sent as the URL that delivers it."""

    def to_representation(self, value: str) -> str:
        return reverse("survey:portrait", args=[value])


class OptionOut(ResponseBody):
    slot = serializers.IntegerField()
    code = serializers.CharField()
    label = serializers.CharField()
    image_url = PortraitUrlField(source="image_token", allow_null=True)


class PracticeResultOut(ResponseBody):
    outcome = serializers.CharField()
    right = serializers.BooleanField(allow_null=True)
    chosen_label = serializers.CharField()
    correct_label = serializers.CharField()


class IntroOut(ResponseBody):
    category = serializers.CharField()
    label = serializers.CharField()
    task = serializers.CharField()
    part = serializers.IntegerField()
    parts = serializers.IntegerField()
    n_questions = serializers.IntegerField()
    time_limit_s = serializers.IntegerField()
    is_practice = serializers.BooleanField()
    practice_result = PracticeResultOut(allow_null=True)


@dataclass(frozen=True)
class ShownQuestion:
    question: QuestionView
    intro: CategoryIntro | None  # set on the request that serves a block's first question


class QuestionOut(ResponseBody):
    id = serializers.IntegerField(source="question.id")
    practice = serializers.BooleanField(source="question.is_practice")
    position = serializers.IntegerField(source="question.position")
    total = serializers.IntegerField(source="question.total")
    category = serializers.CharField(source="question.category")
    prompt = serializers.CharField(source="question.prompt")
    stimulus_urls = serializers.ListField(child=PortraitUrlField(), source="question.stimulus_tokens")
    options = OptionOut(many=True, source="question.options")
    time_limit_ms = serializers.IntegerField(source="question.time_limit_ms")
    load_allowance_ms = serializers.IntegerField(source="question.load_allowance_ms")
    clock_running = serializers.BooleanField(source="question.clock_running")
    remaining_ms = serializers.IntegerField(source="question.remaining_ms", allow_null=True)
    latest_remaining_ms = serializers.IntegerField(
        source="question.latest_remaining_ms", help_text="Time left at the latest, even before the clock starts."
    )
    arming_delay_ms = serializers.IntegerField(
        source="question.arming_delay_ms", help_text="Answers sooner than this after the clock starts are refused."
    )
    category_label = serializers.CharField(source="question.category_label")
    intro = IntroOut(allow_null=True, help_text="Set when this question opens a category or its timed part.")


class CurrentQuestion(ParticipantView):
    locks_session = True  # it serves the question the first time it is asked for

    @extend_schema(
        responses=documented({200: QuestionOut, 204: OpenApiResponse(description="The session is finished.")}, 401, 409)
    )
    def get(self, request):
        """The current question, practice included; `intro` says when it opens a category (or its timed part)."""
        question = services.session_current_question(session=self.quiz_session)
        if question is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        # The introduction goes with the request that serves a block's first question.
        intro = (
            selectors.category_intro(question, being_served=True) if getattr(question, "served_now", False) else None
        )
        shown = ShownQuestion(selectors.question_view(question, now=timebase.now_of(self.quiz_session)), intro)
        return Response(QuestionOut(shown).data)


class ClockOut(ResponseBody):
    remaining_ms = serializers.IntegerField()


class OutcomeOut(ResponseBody):
    outcome = serializers.ChoiceField(choices=Outcome.values)


class AnswerIn(serializers.Serializer):
    choice = serializers.CharField(max_length=64, help_text="The chosen option's code.")


class QuestionStart(ParticipantView):
    locks_session = True

    @extend_schema(request=None, responses=documented({200: ClockOut}, 401, 409))
    def post(self, request, question_id: int):
        question = services.question_clock_start(session=self.quiz_session, question_id=question_id)
        return Response(ClockOut({"remaining_ms": selectors.remaining_ms(question, question.stamped_at)}).data)


class QuestionAnswer(ParticipantView):
    locks_session = True

    @extend_schema(request=AnswerIn, responses=documented({200: OutcomeOut}, 400, 401, 409))
    def post(self, request, question_id: int):
        data = AnswerIn(data=request.data)
        data.is_valid(raise_exception=True)
        answer = services.answer_submit(
            session=self.quiz_session, question_id=question_id, choice=data.validated_data["choice"]
        )
        return Response(OutcomeOut(answer).data)


class QuestionSkip(ParticipantView):
    locks_session = True

    @extend_schema(request=None, responses=documented({200: OutcomeOut}, 401, 409))
    def post(self, request, question_id: int):
        answer = services.answer_submit(session=self.quiz_session, question_id=question_id, choice=None)
        return Response(OutcomeOut(answer).data)


class QuestionExpire(ParticipantView):
    locks_session = True

    @extend_schema(request=None, responses=documented({200: OutcomeOut}, 401, 409))
    def post(self, request, question_id: int):
        answer = services.question_expire(session=self.quiz_session, question_id=question_id)
        return Response(OutcomeOut(answer).data)


class ScoreOut(serializers.Serializer):
    category = serializers.CharField()
    answered = serializers.IntegerField()
    correct = serializers.IntegerField()
    skipped = serializers.IntegerField()
    timed_out = serializers.IntegerField()


class Scores(ParticipantView):
    @extend_schema(
        responses=documented(
            {
                200: ScoreOut(many=True),
                403: OpenApiResponse(
                    ErrorSerializer,
                    description="`no_feedback`: the session is not finished, or the study shows no scores.",
                ),
            },
            401,
        )
    )
    def get(self, request):
        session = self.quiz_session
        if session.stage != QuizSession.Stage.FINISHED or not session.study.show_feedback:
            raise ApiRefused(
                status.HTTP_403_FORBIDDEN,
                "no_feedback",
                "Scores are shown only after the last question, and only if the study allows it.",
            )
        return Response(ScoreOut(selectors.session_scores(session), many=True).data)
