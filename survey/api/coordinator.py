"""The coordinator API: staff tokens, per-study permission, and the same services as the admin and commands.

Every JSON body is its output serializer's `.data`, the serializer the schema names; the services' refusals
are answered by survey/api/errors.py.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from survey import export, jobs, selectors, services
from survey.access import coordinated_study, studies_for
from survey.api.auth import IsStaff
from survey.api.errors import ApiRefused, ReadinessOut, documented, refusal_body
from survey.image_bank import bank_import_uploads
from survey.models import Disorder, Invite, Job, Portrait, QuizSession, Study

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


XLSX_IS_A_JOB = (
    "A spreadsheet is built by a background job, so that no request is bound to the study's size: "
    "POST to this URL to queue it, then follow the job it returns (its download link appears "
    "when it is done)."
)


class JobOut(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="This job, to poll.")
    percent = serializers.IntegerField(read_only=True)
    download = serializers.SerializerMethodField(help_text="The built file, once `state` is `done`; else null.")

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "state",
            "parameters",
            "percent",
            "step_note",
            "error",
            "file_name",
            "created_at",
            "started_at",
            "finished_at",
            "url",
            "download",
        ]
        read_only_fields = fields

    def _absolute(self, name: str, job: Job) -> str:
        path = reverse(name, kwargs={"slug": job.study.slug, "job_id": job.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_url(self, job: Job) -> str:
        return self._absolute("api:study-job", job)

    def get_download(self, job: Job) -> str | None:
        done = job.has_file
        return self._absolute("api:study-job-download", job) if done else None


class Export(StudyScoped):
    serializer_class = JobOut  # what a POST answers (OPTIONS describes it)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "table", enum=["answers", "options", "participants", "settings"], location=OpenApiParameter.PATH
            ),
            OpenApiParameter("fmt", enum=list(export.FORMATS), location=OpenApiParameter.PATH),
        ],
        responses=documented(
            {
                (200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description="The export file.")
                for fmt, media_type in export.FORMATS.items()
                if fmt != "xlsx"
            },
            400,
            401,
            403,
            404,
            405,
        ),
    )
    def get(self, request, slug: str, table: str, fmt: str):
        """answers.{csv,json} (the tidy export), options.{csv,json} (one row per option shown),
        participants.{csv,json}, settings.json, streamed; docs/exports.md documents every column. A
        spreadsheet (.xlsx) is built by a background job: POST to its URL, then follow the job."""
        study = self.study()
        if table == "settings" and fmt != "json":
            raise ValidationError({"format": ["The settings file is JSON: use settings.json."]})
        if fmt == "xlsx":
            self.headers["Allow"] = "POST"  # DRF writes the view's headers onto the response last
            return Response(refusal_body("use_post", XLSX_IS_A_JOB), status=status.HTTP_405_METHOD_NOT_ALLOWED)
        content_type = export.FORMATS[fmt]
        if table == "settings":  # a few settings, never bound to the study's size
            response = HttpResponse(export.render(study, table, fmt), content_type=content_type)
        else:  # streamed: the request never holds the whole study
            chunks = export.csv_chunks(study, table) if fmt == "csv" else export.json_chunks(study, table)
            response = StreamingHttpResponse(chunks, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.file_name(study, table, fmt)}"'
        return response

    @extend_schema(
        parameters=[
            OpenApiParameter("table", enum=list(jobs.XLSX_TABLES), location=OpenApiParameter.PATH),
            OpenApiParameter("fmt", enum=["xlsx"], location=OpenApiParameter.PATH),
        ],
        request=None,
        responses=documented({202: JobOut}, 400, 401, 403, 404),
    )
    def post(self, request, slug: str, table: str, fmt: str):
        """Queue a spreadsheet of one table for the worker: 202 with the job (its `Location` too). Poll
        the job until `state` is `done`, then download its `download` link."""
        study = self.study()
        if fmt != "xlsx" or table not in jobs.XLSX_TABLES:
            raise ValidationError(
                {
                    "format": [
                        "Only spreadsheets (answers.xlsx, options.xlsx, participants.xlsx) are built as jobs; "
                        "CSV and JSON download at once with GET."
                    ]
                }
            )
        job = jobs.export_queue(study=study, user=request.user, table=table)
        body = JobOut(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class StudyJob(StudyScoped):
    """One background job of the study, as the API's clients follow it."""

    serializer_class = JobOut

    def job(self) -> Job:
        return jobs.job_of(self.request.user, self.study(), self.kwargs["job_id"])

    @extend_schema(responses=documented({200: JobOut}, 401, 403, 404))
    def get(self, request, slug: str, job_id: int):
        """Waiting, running (with its progress), done (with its download link) or failed (with why)."""
        return Response(JobOut(self.job(), context={"request": request}).data)


class StudyJobDownload(StudyJob):
    @extend_schema(
        responses=documented(
            {
                (200, export.FORMATS["xlsx"]): OpenApiResponse(
                    OpenApiTypes.BINARY, description="The spreadsheet the job built."
                )
            },
            401,
            403,
            404,
            409,
        )
    )
    def get(self, request, slug: str, job_id: int):
        """The file an export job built; 409 (`not_ready`) until the job is done."""
        job = self.job()
        if not job.has_file:
            raise ApiRefused(
                status.HTTP_409_CONFLICT,
                "not_ready",
                f"This job has no file to download: it is {job.get_state_display().lower()}.",
            )
        response = HttpResponse(jobs.job_file(job), content_type=export.FORMATS["xlsx"])
        response["Content-Disposition"] = f'attachment; filename="{job.file_name}"'
        return response


class PortraitSerializer(serializers.ModelSerializer):
    disorder = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Portrait
        fields = [
            "id",
            "kind",
            "disorder",
            "content_hash",
            "used_in_training",
            "source",
            "checkpoint_id",
            "seed",
            "truncation",
            "width",
            "height",
            "byte_size",
            "created_at",
        ]


class UploadIn(serializers.Serializer):
    manifest = serializers.FileField(help_text="CSV with filename,disorder,kind[,used_in_training,source,...]")
    files = serializers.ListField(child=serializers.FileField(), help_text="The images the manifest names.")


class ImportOut(serializers.Serializer):
    imported = serializers.IntegerField()


class Portraits(StudyScoped):
    parser_classes = [MultiPartParser]

    serializer_class = PortraitSerializer

    @extend_schema(responses=documented({200: PortraitSerializer(many=True)}, 401, 403, 404))
    def get(self, request, slug: str):
        portraits = self.study().portraits.select_related("disorder").order_by("kind", "disorder__code", "id")
        kind = request.query_params.get("kind")
        if kind:
            portraits = portraits.filter(kind=kind)
        return self.paginated(portraits, PortraitSerializer)

    @extend_schema(
        request={"multipart/form-data": UploadIn}, responses=documented({201: ImportOut}, 400, 401, 403, 404)
    )
    def post(self, request, slug: str):
        """Upload portraits with their manifest; validated exactly like `manage.py import_images`."""
        study = self.study()
        data = UploadIn(data={"manifest": request.data.get("manifest"), "files": request.FILES.getlist("files")})
        data.is_valid(raise_exception=True)
        files = [(upload.name, upload.read()) for upload in data.validated_data["files"]]
        portraits = bank_import_uploads(study=study, manifest=data.validated_data["manifest"].read(), files=files)
        return Response(ImportOut({"imported": len(portraits)}).data, status=status.HTTP_201_CREATED)


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

    @extend_schema(responses=documented({200: InviteSerializer(many=True)}, 401, 403, 404))
    def get(self, request, slug: str):
        invites = self.study().invites.annotate(n_sessions=Count("sessions")).order_by("-created_at", "-id")
        return self.paginated(invites, InviteSerializer)

    @extend_schema(
        request=InvitesIn,
        responses=documented(
            {
                201: InviteSerializer(many=True),
                409: OpenApiResponse(
                    ReadinessOut, description="The study cannot start a session yet: `problems` says what is missing."
                ),
            },
            400,
            401,
            403,
            404,
        ),
    )
    def post(self, request, slug: str):
        """Issue invites; refused (409, with the problems) while the study cannot start a session."""
        study = self.study()
        data = InvitesIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        invites = services.invites_issue(
            study=study,
            count=values["count"],
            label=values["label"],
            reusable=values["reusable"],
            expires_at=values.get("expires_at"),
        )
        return Response(InviteSerializer(invites, many=True).data, status=status.HTTP_201_CREATED)


class RevokeIn(serializers.Serializer):
    end_sessions = serializers.BooleanField(
        default=False, help_text="Also end the running sessions started from this link."
    )


class InviteRevoke(StudyScoped):
    serializer_class = InviteSerializer

    @extend_schema(request=RevokeIn, responses=documented({200: InviteSerializer}, 400, 401, 403, 404))
    def post(self, request, slug: str, invite_id: int):
        invite = get_object_or_404(Invite, pk=invite_id, study=self.study())
        data = RevokeIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.invite_revoke(invite=invite, end_sessions=data.validated_data["end_sessions"])
        invite.refresh_from_db()
        return Response(InviteSerializer(invite).data)


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
