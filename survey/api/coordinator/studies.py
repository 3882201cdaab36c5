"""Studies and disorders: list, create and edit them (/api/studies/, /api/disorders/), and a study's progress
and readiness."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from survey import export, selectors
from survey.access import studies_for
from survey.api.auth import IsStaff
from survey.api.errors import ReadinessOut, documented
from survey.models import Disorder, Study


class DisorderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Disorder
        fields = ["code", "name", "description"]


class StudySerializer(serializers.ModelSerializer):
    disorders = serializers.SlugRelatedField(slug_field="code", many=True, queryset=Disorder.objects.all())

    class Meta:
        model = Study
        fields = ["slug", "title", "consent_text", "instructions", "disorders", "is_open", "show_feedback"] + [
            name for name in export.STUDY_SETTING_FIELDS if name not in {"slug", "title", "is_open", "show_feedback"}
        ]


@extend_schema_view(
    list=extend_schema(responses=documented({200: DisorderSerializer(many=True)}, 401, 403, 404)),
    create=extend_schema(responses=documented({201: DisorderSerializer}, 400, 401, 403)),
)
class DisorderViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsStaff]
    serializer_class = DisorderSerializer
    queryset = Disorder.objects.all()
    lookup_field = "code"


class ProgressOut(serializers.Serializer):
    sessions_started = serializers.IntegerField()
    sessions_finished = serializers.IntegerField()
    answered = serializers.IntegerField()
    skipped = serializers.IntegerField()
    timed_out = serializers.IntegerField()


# A study's slug, as its URLs match it (the router's default pattern is wider than a SlugField).
SLUG = OpenApiParameter("slug", location=OpenApiParameter.PATH, pattern="^[-a-zA-Z0-9_]+$")


@extend_schema_view(
    list=extend_schema(responses=documented({200: StudySerializer(many=True)}, 401, 403, 404)),
    create=extend_schema(responses=documented({201: StudySerializer}, 400, 401, 403)),
    retrieve=extend_schema(parameters=[SLUG], responses=documented({200: StudySerializer}, 401, 403, 404)),
    update=extend_schema(parameters=[SLUG], responses=documented({200: StudySerializer}, 400, 401, 403, 404)),
    partial_update=extend_schema(parameters=[SLUG], responses=documented({200: StudySerializer}, 400, 401, 403, 404)),
)
class StudyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [IsStaff]
    serializer_class = StudySerializer
    lookup_field = "slug"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Study.objects.none()
        return studies_for(self.request.user).prefetch_related("disorders").order_by("slug")

    def perform_create(self, serializer) -> None:
        study = serializer.save()
        study.coordinators.add(self.request.user)

    @extend_schema(parameters=[SLUG], responses=documented({200: ProgressOut}, 401, 403, 404))
    @action(detail=True, methods=["get"])
    def progress(self, request, slug: str):
        return Response(ProgressOut(selectors.study_progress(self.get_object())).data)

    @extend_schema(parameters=[SLUG], responses=documented({200: ReadinessOut}, 401, 403, 404))
    @action(detail=True, methods=["get"])
    def readiness(self, request, slug: str):
        """Whether the study can start a session; if not, each missing piece in words."""
        problems = selectors.study_readiness(self.get_object())
        return Response(ReadinessOut({"ready": not problems, "problems": problems}).data)
