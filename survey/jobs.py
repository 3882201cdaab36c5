"""Queueing a coordinator's background jobs and finding them again: the web side of survey/tasks.py.

A job is a `Job` row (what the page shows) plus a task on the queue (what the worker runs); both are made
in one transaction, and the task is enqueued only once the row is committed, so a worker never looks for
a job that is not there yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from survey import export, tasks
from survey.access import studies_for
from survey.models import Job, Study

XLSX_TABLES = tuple(t for t in export.TABLES if t != "settings")
PENDING = (Job.State.QUEUED, Job.State.RUNNING)
BUNDLED_CHECKPOINT = Path(settings.GENERATOR_MODELS_DIR) / "generator-demo64.safetensors"


def checkpoint_choices() -> list[Path]:
    """The checkpoints a coordinator may pick in the browser: the bundled demo model and every
    *.safetensors file in SURVEY_CHECKPOINT_DIR. A browser never names a path of its own."""
    found = [BUNDLED_CHECKPOINT] if BUNDLED_CHECKPOINT.is_file() else []
    folder = getattr(settings, "SURVEY_CHECKPOINT_DIR", None)
    if folder and Path(folder).is_dir():
        found += sorted(p for p in Path(folder).glob("*.safetensors") if p.is_file() and p != BUNDLED_CHECKPOINT)
    return found


def _queue(job: Job, run) -> Job:
    def enqueue() -> None:
        result = run.enqueue(job.pk)
        Job.objects.filter(pk=job.pk).update(task_id=str(result.id))

    transaction.on_commit(enqueue)
    return job


@transaction.atomic
def pool_fill_queue(
    *,
    study: Study,
    user,
    checkpoint: str,
    per_disorder: int,
    truncation: float,
    skip_gates: list[str],
    seed_start: int = 0,
    latent_samples: int = 10_000,
) -> Job:
    """Queue a pool fill (survey.management.commands._pool_fill.pool_fill) for the worker."""
    job = Job.objects.create(
        study=study,
        kind=Job.Kind.POOL_FILL,
        requested_by=user,
        parameters={
            "checkpoint": checkpoint,
            "checkpoint_name": Path(checkpoint).name,
            "per_disorder": per_disorder,
            "truncation": truncation,
            "skip_gates": sorted(skip_gates),
            "seed_start": seed_start,
            "latent_samples": latent_samples,
        },
    )
    return _queue(job, tasks.fill_pool)


@transaction.atomic
def export_queue(*, study: Study, user, table: str) -> Job:
    """Queue an XLSX export of one table (the CSV and JSON stream straight from the request)."""
    if table not in XLSX_TABLES:
        raise ValueError(f"{table!r} is not one of {', '.join(XLSX_TABLES)}")
    job = Job.objects.create(study=study, kind=Job.Kind.EXPORT, requested_by=user, parameters={"table": table})
    return _queue(job, tasks.build_export)


def silence_limit() -> timedelta:
    return timedelta(seconds=settings.SURVEY_JOB_SILENT_AFTER_S)


def fail_lost_jobs(*, study: Study | None = None, kind: str | None = None, now: datetime | None = None) -> int:
    """Mark failed every running job whose worker has reported nothing for SURVEY_JOB_SILENT_AFTER_S (its
    last heartbeat, or its start for a row from before heartbeats). A job still waiting for a worker is
    left alone: it starts when a worker does. Returns how many were failed.

    The one rule for a lost job: `manage.py close_expired` applies it to all studies, and queueing a
    dashboard recompute applies it first to that study's dashboard jobs, so a killed worker cannot block
    the dashboard for ever."""
    cutoff = (now or timezone.now()) - silence_limit()
    lost = (
        Job.objects.filter(state=Job.State.RUNNING)
        .alias(last_seen=Coalesce("heartbeat_at", "started_at", "created_at"))
        .filter(last_seen__lt=cutoff)
    )
    if study is not None:
        lost = lost.filter(study=study)
    if kind is not None:
        lost = lost.filter(kind=kind)
    minutes = round(settings.SURVEY_JOB_SILENT_AFTER_S / 60)
    return lost.update(
        state=Job.State.FAILED,
        finished_at=timezone.now(),
        error=(
            f"The worker stopped reporting on this job (nothing for {minutes} minutes): it was probably stopped "
            "or restarted. Nothing half-done was kept; start the job again."
        ),
    )


def dashboard_queue(study: Study) -> Job | None:
    """Queue a recompute of the study's dashboard figures, unless one is already waiting or running (the
    constraint one_pending_dashboard_per_study decides, so two requests at once still make one job).
    Returns the new job, or None when one was pending."""
    fail_lost_jobs(study=study, kind=Job.Kind.DASHBOARD)
    if Job.objects.filter(study=study, kind=Job.Kind.DASHBOARD, state__in=PENDING).exists():
        return None  # the common case, answered without a failed insert
    try:
        with transaction.atomic():
            job = Job.objects.create(study=study, kind=Job.Kind.DASHBOARD)
            return _queue(job, tasks.refresh_dashboard)
    except IntegrityError:  # another request queued one between the check and the insert
        return None


def job_of(user, study: Study, job_id: int) -> Job:
    """One of this study's jobs, if the user coordinates the study; 404 otherwise."""
    job = Job.objects.defer("file_data").filter(pk=job_id, study=study, study__in=studies_for(user)).first()
    if job is None:
        raise Http404("No such job among this study's.")
    return job


def job_file(job: Job) -> bytes:
    """The file an export job built, read only when it is downloaded (pages defer it)."""
    return bytes(Job.objects.values_list("file_data", flat=True).get(pk=job.pk))


def recent_jobs(study: Study, kind: str, *, limit: int = 10) -> list[Job]:
    return list(Job.objects.defer("file_data").filter(study=study, kind=kind)[:limit])
