"""A coordinator's pages for background work: filling the pool from a generator checkpoint, and the
exports (CSV and JSON streamed at once, XLSX built by a job), with each job's progress and outcome.

Fenced like the other staff pages: a coordinator reaches only the studies that list them (404 for the
rest). The web process queues jobs; `manage.py db_worker` runs them (survey/tasks.py).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from survey import export, jobs, selectors
from survey.access import coordinated_study
from survey.forms import PoolFillForm
from survey.jobs import checkpoint_choices
from survey.models import Job

JOB_PAGE_REFRESH_S = 2  # an unfinished job's page reloads itself this often


@never_cache
@staff_member_required
@require_http_methods(["GET", "POST"])
def pool_fill(request: HttpRequest, slug: str) -> HttpResponse:
    """Choose a checkpoint, portraits per disorder, truncation and gates; queue the job."""
    study = coordinated_study(request.user, slug)
    form = PoolFillForm(request.POST or None, checkpoints=checkpoint_choices())
    if request.method == "POST" and form.is_valid():
        values = form.cleaned_data
        job = jobs.pool_fill_queue(
            study=study,
            user=request.user,
            checkpoint=str(form.paths[values["checkpoint"]]),
            per_disorder=values["per_disorder"],
            truncation=values["truncation"],
            skip_gates=form.skipped_gates(),
        )
        messages.success(request, "The pool fill is queued; this page shows its progress.")
        return redirect("survey:job", slug=study.slug, job_id=job.pk)
    return render(
        request,
        "survey/pool_fill.html",
        {
            "study": study,
            "form": form,
            "jobs": jobs.recent_jobs(study, Job.Kind.POOL_FILL),
            "disorders": list(study.disorders.order_by("code").values_list("code", flat=True)),
            "title": f"Fill the pool: {study.title}",
        },
        status=400 if form.errors else 200,
    )


@never_cache
@staff_member_required
@require_GET
def job_status(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    """One job: waiting, running (with its progress), done (its report or file) or failed (why)."""
    study = coordinated_study(request.user, slug)
    job = jobs.job_of(request.user, study, job_id)
    context = {
        "study": study,
        "job": job,
        "title": f"{job.get_kind_display()}: {study.title}",
        "refresh_s": None if job.is_finished else JOB_PAGE_REFRESH_S,
    }
    if job.kind == Job.Kind.POOL_FILL and job.state == Job.State.DONE:
        context["readiness"] = selectors.study_readiness(study)
    return render(request, "survey/job.html", context)


@never_cache
@staff_member_required
@require_GET
def job_download(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    """The file an export job built."""
    study = coordinated_study(request.user, slug)
    job = jobs.job_of(request.user, study, job_id)
    if not job.has_file:
        return render(
            request,
            "survey/job.html",
            {"study": study, "job": job, "refresh_s": None, "title": f"{job.get_kind_display()}: {study.title}"},
            status=409,
        )
    response = HttpResponse(jobs.job_file(job), content_type=export.FORMATS["xlsx"])
    response["Content-Disposition"] = f'attachment; filename="{job.file_name}"'
    return response


@never_cache
@staff_member_required
@require_GET
def exports(request: HttpRequest, slug: str) -> HttpResponse:
    """Every export of the study: CSV and JSON download at once (streamed); spreadsheets are prepared by
    a job and listed here with their download links."""
    study = coordinated_study(request.user, slug)
    return render(
        request,
        "survey/exports.html",
        {
            "study": study,
            "tables": jobs.XLSX_TABLES,
            "jobs": jobs.recent_jobs(study, Job.Kind.EXPORT, limit=20),
            "title": f"Exports: {study.title}",
        },
    )


@never_cache
@staff_member_required
@require_POST
def export_prepare(request: HttpRequest, slug: str, table: str) -> HttpResponse:
    study = coordinated_study(request.user, slug)
    if table not in jobs.XLSX_TABLES:
        return redirect("survey:exports", slug=study.slug)
    job = jobs.export_queue(study=study, user=request.user, table=table)
    messages.success(
        request, f"The {table} spreadsheet is being prepared; its download link appears here when it is ready."
    )
    return redirect("survey:job", slug=study.slug, job_id=job.pk)
