"""A study's background jobs as the API's clients follow them: one job's state, and the file it built."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from survey import export, jobs
from survey.api.coordinator.scope import StudyScoped
from survey.api.errors import ApiRefused, documented
from survey.models import Job


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
