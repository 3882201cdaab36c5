"""Background jobs from the coordinators' pages: filling the pool from a checkpoint and preparing a
spreadsheet export. The page queues a task on django-tasks' database queue; the worker (db_worker) runs
it; the job's page shows its progress and outcome; a failed pool fill changes nothing in the bank."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from survey import jobs, tasks
from survey.jobs import BUNDLED_CHECKPOINT
from survey.models import Job, Portrait
from tests.survey.factories import DisorderFactory, StudyFactory
from tests.survey.test_admin_fence import coordinator_of

torch = pytest.importorskip("torch")


@pytest.fixture
def gen_study(db, image_bank_root):
    return StudyFactory(slug="gen", disorders=[DisorderFactory(code="quellan"), DisorderFactory(code="velmar")])


def queue_fill(study, **overrides) -> Job:
    values = {
        "checkpoint": str(BUNDLED_CHECKPOINT),
        "per_disorder": 2,
        "truncation": 0.7,
        "skip_gates": ["face"],
        "latent_samples": 16,
        **overrides,
    }
    return jobs.pool_fill_queue(study=study, user=None, **values)


def test_the_page_offers_the_bundled_checkpoint_and_queues_a_job(gen_study, django_capture_on_commit_callbacks):
    me = coordinator_of(gen_study, "me")
    page = me.get(reverse("survey:pool-fill", args=["gen"]))
    assert page.status_code == 200 and BUNDLED_CHECKPOINT.name in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = me.post(
            reverse("survey:pool-fill", args=["gen"]),
            {"checkpoint": BUNDLED_CHECKPOINT.name, "per_disorder": 3, "truncation": 0.6, "gates": ["disorder"]},
        )
    job = Job.objects.get()
    assert response.status_code == 302 and response.url == reverse("survey:job", args=["gen", job.pk])
    assert job.parameters["per_disorder"] == 3 and job.parameters["truncation"] == 0.6
    assert job.parameters["skip_gates"] == ["face"] and job.state == Job.State.QUEUED
    task = DBTaskResult.objects.get()  # on the queue, for the worker
    assert job.task_id == str(task.id) and task.args_kwargs["args"] == [job.pk]
    status = me.get(reverse("survey:job", args=["gen", job.pk])).content.decode()
    assert "Waiting for a worker" in status and 'http-equiv="refresh"' in status


def test_the_page_refuses_a_path_of_its_own_and_bad_numbers(gen_study):
    me = coordinator_of(gen_study, "me")
    response = me.post(
        reverse("survey:pool-fill", args=["gen"]), {"checkpoint": "/etc/passwd", "per_disorder": 0, "truncation": 1.5}
    )
    assert response.status_code == 400 and not Job.objects.exists()
    errors = response.context["form"].errors
    assert set(errors) == {"checkpoint", "per_disorder", "truncation"}


def test_the_worker_fills_the_pool_and_the_page_shows_the_gate_report(gen_study):
    job = queue_fill(gen_study)
    tasks.fill_pool.call(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.DONE and job.steps_done == job.steps_total == 4  # load, 2 disorders, write
    assert Portrait.objects.filter(study=gen_study, kind="synthetic").count() == 4
    assert Portrait.objects.filter(study=gen_study, kind="latent_average").count() == 2
    page = coordinator_of(gen_study, "me").get(reverse("survey:job", args=["gen", job.pk])).content.decode()
    assert "Gate report" in page and "face gate: off" in page and 'http-equiv="refresh"' not in page
    assert "quellan: 2 synthetic portraits and a latent average" in page
    assert "Not ready for sessions yet" in page  # no real portraits: readiness says what is missing


def test_a_failed_pool_fill_says_why_and_leaves_the_bank_unchanged(gen_study, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    job = queue_fill(gen_study, checkpoint=str(broken))
    tasks.fill_pool.call(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.error.startswith("Cannot load")
    assert not Portrait.objects.exists()
    page = coordinator_of(gen_study, "me").get(reverse("survey:job", args=["gen", job.pk])).content.decode()
    assert "The job failed; nothing was changed." in page and "Cannot load" in page


def test_a_crash_half_way_adds_nothing(gen_study, monkeypatch):
    """The second disorder's latent average fails after the first disorder's portraits were generated: the
    bank still holds nothing, because portraits are written only once every disorder is done."""
    from generator import api

    real = api.latent_average_image
    calls = []

    def failing_second(model, code, **kwargs):
        calls.append(code)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return real(model, code, **kwargs)

    monkeypatch.setattr(api, "latent_average_image", failing_second)
    job = queue_fill(gen_study)
    with pytest.raises(RuntimeError):
        tasks.fill_pool.call(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and "out of memory" in job.error and "nothing was added" in job.error
    assert not Portrait.objects.exists()


def test_an_export_job_builds_the_spreadsheet_and_offers_it(study, django_capture_on_commit_callbacks):
    from openpyxl import load_workbook

    me = coordinator_of(study, "me")
    assert "Prepare answers.xlsx" in me.get(reverse("survey:exports", args=[study.slug])).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = me.post(reverse("survey:export-prepare", args=[study.slug, "participants"]))
    job = Job.objects.get(kind=Job.Kind.EXPORT)
    assert response.status_code == 302 and job.parameters == {"table": "participants"}
    assert me.get(reverse("survey:job-download", args=[study.slug, job.pk])).status_code == 409  # not yet
    tasks.build_export.call(job.pk)
    download = me.get(reverse("survey:job-download", args=[study.slug, job.pk]))
    assert (
        download.status_code == 200 and f'filename="{study.slug}-participants.xlsx"' in download["Content-Disposition"]
    )
    sheet = load_workbook(io.BytesIO(download.content))["participants"]
    assert [c.value for c in sheet[1]][:2] == ["participant", "session"]
    listing = me.get(reverse("survey:exports", args=[study.slug])).content.decode()
    assert reverse("survey:job-download", args=[study.slug, job.pk]) in listing


@pytest.mark.django_db(transaction=True)
def test_manage_py_db_worker_runs_the_queued_jobs(image_bank_root):
    """The real worker command, as deployed: it takes the queued task from the database and runs it."""
    study = StudyFactory(slug="gen", disorders=[DisorderFactory(code="quellan"), DisorderFactory(code="velmar")])
    job = queue_fill(study, per_disorder=1)  # not in a test transaction: on_commit enqueues at once
    assert DBTaskResult.objects.filter(status="READY").count() == 1
    call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)
    job.refresh_from_db()
    assert job.state == Job.State.DONE, job.error
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
    assert Portrait.objects.filter(study=study, kind="synthetic").count() == 2
