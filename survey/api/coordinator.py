"""The coordinator API: staff tokens, per-study permission, and the same services as the admin and commands."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from survey import export, selectors, services
from survey.api.auth import IsStaff, coordinated_study, studies_for
from survey.image_bank import ImportRejected, bank_import_uploads
from survey.models import Disorder, Invite, Portrait, QuizSession, Study

MAX_INVITES_PER_CALL = 1000


class DisorderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Disorder
        fields = ["code", "name", "description"]


class StudySerializer(serializers.ModelSerializer):
    disorders = serializers.SlugRelatedField(slug_field="code", many=True, queryset=Disorder.objects.all())

    class Meta:
        model = Study
        fields = ["slug", "title", "consent_text", "instructions", "disorders", "is_open", "show_feedback"] + [
            name for name in export.STUDY_SETTING_FIELDS
            if name not in {"slug", "title", "is_open", "show_feedback"}
        ]


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


class ReadinessOut(serializers.Serializer):
    ready = serializers.BooleanField()
    problems = serializers.ListField(child=serializers.CharField())


class StudyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                   mixins.UpdateModelMixin, viewsets.GenericViewSet):
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

    @extend_schema(responses=ProgressOut)
    @action(detail=True, methods=["get"])
    def progress(self, request, slug: str):
        return Response(vars(selectors.study_progress(self.get_object())))

    @extend_schema(responses=ReadinessOut)
    @action(detail=True, methods=["get"])
    def readiness(self, request, slug: str):
        """Whether the study can start a session; if not, each missing piece in words."""
        problems = selectors.study_readiness(self.get_object())
        return Response({"ready": not problems, "problems": problems})


class StudyScoped(GenericAPIView):
    permission_classes = [IsStaff]

    def study(self) -> Study:
        return coordinated_study(self.request.user, self.kwargs["slug"])

    def get_queryset(self):
        """The study's own rows of the serializer's model, else the study itself (the browsable API asks)."""
        if getattr(self, "swagger_fake_view", False):
            return Study.objects.none()
        model = getattr(getattr(self.serializer_class, "Meta", None), "model", None)
        if model is not None and model is not Study:
            return model.objects.filter(study=self.study())
        return Study.objects.filter(pk=self.study().pk)

    def paginated(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


class Export(StudyScoped):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(description="The export file.")})
    def get(self, request, slug: str, table: str, fmt: str):
        """answers.{csv,json,xlsx} (the tidy export), options.{csv,json,xlsx} (one row per option shown),
        participants.{csv,json,xlsx}, settings.json; docs/exports.md documents every column."""
        study = self.study()
        if table == "settings" and fmt != "json":
            raise ValidationError({"format": ["The settings file is JSON: use settings.json."]})
        content_type = export.FORMATS["json" if table == "settings" else fmt]
        if table != "settings" and fmt in ("csv", "json"):  # streamed: the request never holds the whole study
            chunks = export.csv_chunks(study, table) if fmt == "csv" else export.json_chunks(study, table)
            response = StreamingHttpResponse(chunks, content_type=content_type)
        else:  # settings.json is small; XLSX here is for scripts (the coordinators' page builds it as a job)
            response = HttpResponse(export.render(study, table, fmt), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.file_name(study, table, fmt)}"'
        return response


class PortraitSerializer(serializers.ModelSerializer):
    disorder = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Portrait
        fields = ["id", "kind", "disorder", "content_hash", "used_in_training", "source", "checkpoint_id", "seed",
                  "truncation", "width", "height", "byte_size", "created_at"]


class UploadIn(serializers.Serializer):
    manifest = serializers.FileField(help_text="CSV with filename,disorder,kind[,used_in_training,source,...]")
    files = serializers.ListField(child=serializers.FileField(), help_text="The images the manifest names.")


class ImportOut(serializers.Serializer):
    imported = serializers.IntegerField()


class Portraits(StudyScoped):
    parser_classes = [MultiPartParser]

    serializer_class = PortraitSerializer

    @extend_schema(responses=PortraitSerializer(many=True))
    def get(self, request, slug: str):
        portraits = self.study().portraits.select_related("disorder").order_by("kind", "disorder__code", "id")
        kind = request.query_params.get("kind")
        if kind:
            portraits = portraits.filter(kind=kind)
        return self.paginated(portraits, PortraitSerializer)

    @extend_schema(request={"multipart/form-data": UploadIn}, responses={201: ImportOut, 400: OpenApiResponse()})
    def post(self, request, slug: str):
        """Upload portraits with their manifest; validated exactly like `manage.py import_images`."""
        study = self.study()
        data = UploadIn(data={"manifest": request.data.get("manifest"), "files": request.FILES.getlist("files")})
        data.is_valid(raise_exception=True)
        files = [(upload.name, upload.read()) for upload in data.validated_data["files"]]
        try:
            portraits = bank_import_uploads(study=study, manifest=data.validated_data["manifest"].read(), files=files)
        except ImportRejected as rejected:
            return Response({"manifest": rejected.problems}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"imported": len(portraits)}, status=status.HTTP_201_CREATED)


class InviteSerializer(serializers.ModelSerializer):
    link = serializers.SerializerMethodField()
    sessions = serializers.SerializerMethodField()

    class Meta:
        model = Invite
        fields = ["id", "token", "link", "label", "reusable", "expires_at", "revoked_at", "created_at", "sessions"]
        read_only_fields = fields

    def get_sessions(self, invite: Invite) -> int:
        annotated = getattr(invite, "n_sessions", None)  # lists annotate; one invite counts
        return annotated if annotated is not None else invite.sessions.count()

    def get_link(self, invite: Invite) -> str:
        return settings.SITE_URL + reverse("survey:invite", args=[invite.token])


class InvitesIn(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=MAX_INVITES_PER_CALL, default=1)
    reusable = serializers.BooleanField(default=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    label = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise ValidationError("The expiry must lie in the future.")
        return value


class Invites(StudyScoped):
    serializer_class = InviteSerializer
    @extend_schema(responses=InviteSerializer(many=True))
    def get(self, request, slug: str):
        invites = self.study().invites.annotate(n_sessions=Count("sessions")).order_by("-created_at", "-id")
        return self.paginated(invites, InviteSerializer)

    @extend_schema(request=InvitesIn, responses={201: InviteSerializer(many=True), 409: ReadinessOut})
    def post(self, request, slug: str):
        """Issue invites; refused (409, with the problems) while the study cannot start a session."""
        study = self.study()
        data = InvitesIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            invites = services.invites_issue(study=study, count=values["count"], label=values["label"],
                                             reusable=values["reusable"], expires_at=values.get("expires_at"))
        except services.InvitesRefused as refused:
            return Response({"ready": False, "problems": refused.problems}, status=status.HTTP_409_CONFLICT)
        return Response(InviteSerializer(invites, many=True).data, status=status.HTTP_201_CREATED)


class RevokeIn(serializers.Serializer):
    end_sessions = serializers.BooleanField(
        default=False, help_text="Also end the running sessions started from this link."
    )


class InviteRevoke(StudyScoped):
    serializer_class = InviteSerializer
    @extend_schema(request=RevokeIn, responses=InviteSerializer)
    def post(self, request, slug: str, invite_id: int):
        invite = get_object_or_404(Invite, pk=invite_id, study=self.study())
        data = RevokeIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.invite_revoke(invite=invite, end_sessions=data.validated_data["end_sessions"])
        invite.refresh_from_db()
        return Response(InviteSerializer(invite).data)


class EndIn(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="",
                                   help_text="Kept with the session, e.g. 'link forwarded to a colleague'.")


class ParticipantAction(StudyScoped):
    """A coordinator's action on one participant of the study, with a validated body."""

    def session_and_input(self, participant: str) -> tuple[QuizSession, dict]:
        session = get_object_or_404(QuizSession, study=self.study(), pseudonym=participant)
        data = self.serializer_class(data=self.request.data)
        data.is_valid(raise_exception=True)
        return session, data.validated_data


class ParticipantEnd(ParticipantAction):
    serializer_class = EndIn
    @extend_schema(request=EndIn, responses={200: OpenApiResponse(description="Ended.")})
    def post(self, request, slug: str, participant: str):
        """End a running session: it accepts no more answers; what it answered stays in the study."""
        session, values = self.session_and_input(participant)
        session = services.session_end(session=session, reason=values["reason"])
        return Response({"participant": session.pseudonym, "stage": session.stage,
                         "ended_at": session.ended_at})


class EraseIn(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text="Why, e.g. the date and channel of the request.")


class ParticipantErase(ParticipantAction):
    serializer_class = EraseIn
    @extend_schema(request=EraseIn, responses={200: OpenApiResponse(description="Erased.")})
    def post(self, request, slug: str, participant: str):
        """Erase a participant's personal fields; their pseudonymous answers stay in the study."""
        session, values = self.session_and_input(participant)
        services.participant_erase(session=session, reason=values["reason"])
        return Response({"participant": session.pseudonym, "erased": True})
