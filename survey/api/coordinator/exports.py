"""A study's export files: CSV and JSON streamed at once, spreadsheets queued as background jobs."""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from survey import export, jobs
from survey.api.coordinator.jobs import JobOut
from survey.api.coordinator.scope import StudyScoped
from survey.api.errors import documented, refusal_body

XLSX_IS_A_JOB = (
    "A spreadsheet is built by a background job, so that no request is bound to the study's size: "
    "POST to this URL to queue it, then follow the job it returns (its download link appears "
    "when it is done)."
)


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
