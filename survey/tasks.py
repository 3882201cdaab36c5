"""The coordinators' background jobs, run by `manage.py db_worker` (django-tasks' database backend: the
queue is a table of the study's own database, SQLite or PostgreSQL).

Each task takes a `Job` id, marks the row running, reports progress into it, and ends it done (with its
report or file) or failed (with the reason in words). The web process imports this module to enqueue;
the generator, and so torch, is imported only inside the pool fill's body (survey/management/commands/_pool_fill.py), which
runs in the worker.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.utils import timezone
from django_tasks import task

from survey.models import Job

log = logging.getLogger(__name__)


def _start(job_id: int) -> Job:
    job = Job.objects.select_related("study").get(pk=job_id)
    job.state = Job.State.RUNNING
    job.started_at = job.heartbeat_at = timezone.now()
    job.save(update_fields=["state", "started_at", "heartbeat_at"])
    return job


def _progress(job: Job):
    def report(done: int, total: int, note: str) -> None:
        Job.objects.filter(pk=job.pk).update(
            steps_done=done, steps_total=total, step_note=note[:200], heartbeat_at=timezone.now()
        )

    return report


def _fail(job: Job, reason: str) -> None:
    Job.objects.filter(pk=job.pk).update(state=Job.State.FAILED, error=reason, finished_at=timezone.now())


@task()
def fill_pool(job_id: int) -> dict:
    """Generate, gate and add a study's synthetic portraits and latent averages (all or nothing)."""
    from survey.management.commands._pool_fill import PoolFillError, PoolFillRequest, pool_fill

    job = _start(job_id)
    p = job.parameters
    request = PoolFillRequest(
        checkpoint=Path(p["checkpoint"]),
        per_disorder=int(p["per_disorder"]),
        truncation=float(p["truncation"]),
        seed_start=int(p.get("seed_start", 0)),
        latent_samples=int(p.get("latent_samples", 10_000)),
        skip_gates=frozenset(p.get("skip_gates", [])),
    )
    try:
        report = pool_fill(job.study, request, progress=_progress(job)).as_json()
    except PoolFillError as error:
        _fail(job, str(error))
        return {"failed": str(error)}
    except Exception as error:  # the job's page must say that it failed; the worker's log keeps the trace
        log.exception("pool fill job %s failed", job.pk)
        _fail(
            job,
            f"The job stopped with an unexpected error ({type(error).__name__}: {error}); "
            f"nothing was added. The worker's log has the details.",
        )
        raise
    Job.objects.filter(pk=job.pk).update(state=Job.State.DONE, report=report, finished_at=timezone.now())
    return report


@task()
def build_export(job_id: int) -> dict:
    """Write one table of a study as an XLSX file into the job's row."""
    from survey import export

    job = _start(job_id)
    table = job.parameters["table"]
    try:
        _progress(job)(0, 1, f"writing {table}.xlsx")
        data = export.xlsx_bytes(job.study, table)
    except Exception as error:
        log.exception("export job %s failed", job.pk)
        _fail(job, f"The export stopped with an unexpected error ({type(error).__name__}: {error}).")
        raise
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.DONE,
        file_data=data,
        file_name=export.file_name(job.study, table, "xlsx"),
        steps_done=1,
        steps_total=1,
        step_note="done",
        report={"bytes": len(data)},
        finished_at=timezone.now(),
    )
    return {"bytes": len(data)}


@task()
def refresh_dashboard(job_id: int) -> dict:
    """Compute a study's dashboard figures into the job's report (survey.dashboard.dashboard_view serves
    them), and drop the study's older dashboard results: the newest one is all a page reads."""
    from survey import dashboard

    job = _start(job_id)
    try:
        report = dashboard.refresh_dashboard(job.study)
    except Exception as error:
        log.exception("dashboard job %s failed", job.pk)
        _fail(job, f"The dashboard's figures could not be computed ({type(error).__name__}: {error}).")
        raise
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.DONE, report=report, steps_done=1, steps_total=1, step_note="done", finished_at=timezone.now()
    )
    Job.objects.filter(
        study=job.study,
        kind=Job.Kind.DASHBOARD,
        state__in=[Job.State.DONE, Job.State.FAILED],
    ).exclude(pk=job.pk).delete()
    return {"version": report["version"]}
