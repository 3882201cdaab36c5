"""A job whose worker was lost (killed, its machine restarted) is marked failed once it has reported nothing
for SURVEY_JOB_SILENT_AFTER_S, by `manage.py close_expired` and before a dashboard recompute is queued, so it
neither spins on its page for ever nor blocks the study's next dashboard recompute. A job that keeps
reporting progress, however long it runs, and a job still waiting for a worker are left alone."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from survey import jobs, tasks
from survey.models import Job
from tests.survey.test_coordinator_speed import signed_in
from tests.survey.test_export import T0, play

LIMIT = timedelta(seconds=900)


@pytest.fixture(autouse=True)
def fifteen_minutes(settings):
    settings.SURVEY_JOB_SILENT_AFTER_S = int(LIMIT.total_seconds())


def started_job(study, kind: str, *, at) -> Job:
    """A job a worker took at `at` (the worker's own start code marks it running)."""
    job = Job.objects.create(study=study, kind=kind)
    with time_machine.travel(at, tick=False):
        tasks._start(job.pk)
    return Job.objects.get(pk=job.pk)


def test_a_silent_dashboard_job_no_longer_blocks_the_next_recompute(
    study, django_user_model, django_capture_on_commit_callbacks
):
    play(study)
    lost = started_job(study, Job.Kind.DASHBOARD, at=T0)
    url = reverse("survey:dashboard", args=[study.slug])
    with (
        time_machine.travel(T0 + LIMIT - timedelta(seconds=5), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        client = signed_in(django_user_model)
        assert client.get(url).status_code == 200
    assert list(Job.objects.filter(study=study, kind=Job.Kind.DASHBOARD).values_list("pk", "state")) == [
        (lost.pk, Job.State.RUNNING)
    ]  # still within its time: it may yet finish
    with (
        time_machine.travel(T0 + LIMIT + timedelta(seconds=5), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert client.get(url).status_code == 200
    lost.refresh_from_db()
    assert lost.state == Job.State.FAILED and "stopped reporting" in lost.error
    fresh = Job.objects.filter(study=study, kind=Job.Kind.DASHBOARD).exclude(pk=lost.pk).get()
    assert fresh.state == Job.State.QUEUED


def test_close_expired_fails_lost_jobs_and_leaves_the_others(study):
    lost = started_job(study, Job.Kind.EXPORT, at=T0)
    reporting = started_job(study, Job.Kind.POOL_FILL, at=T0)
    waiting = Job.objects.create(study=study, kind=Job.Kind.EXPORT)
    with time_machine.travel(T0 + 2 * LIMIT - timedelta(minutes=1), tick=False):
        tasks._progress(reporting)(3, 10, "disorder 3 of 10")  # a long fill that keeps reporting
    out = io.StringIO()
    with time_machine.travel(T0 + 2 * LIMIT, tick=False):
        call_command("close_expired", stdout=out)
    states = dict(Job.objects.values_list("pk", "state"))
    assert states == {lost.pk: Job.State.FAILED, reporting.pk: Job.State.RUNNING, waiting.pk: Job.State.QUEUED}
    assert "Marked 1 background job(s) failed" in out.getvalue()
    with time_machine.travel(T0 + 2 * LIMIT, tick=False):
        assert jobs.fail_lost_jobs() == 0  # idempotent


def test_the_failed_job_page_says_what_happened(study, django_user_model):
    lost = started_job(study, Job.Kind.EXPORT, at=T0)
    with time_machine.travel(T0 + LIMIT + timedelta(seconds=1), tick=False):
        assert jobs.fail_lost_jobs(study=study) == 1
        client = signed_in(django_user_model)
        html = client.get(reverse("survey:job", args=[study.slug, lost.pk])).content.decode()
    assert "stopped reporting on this job (nothing for 15 minutes)" in html
