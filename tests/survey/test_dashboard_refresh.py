"""The dashboard's figures are computed by the worker, never inside a request (stale-while-revalidate):
a request shows the last figures at once, labelled with their time and the answers since when they are
older than the answers, and queues one recompute per study however often the page is reloaded; before the
first result the page says the figures are being computed. Both pages reload themselves until current."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from survey import dashboard, selectors, tasks
from survey.models import Job
from tests.survey.test_coordinator_speed import signed_in
from tests.survey.test_export import T0, play


def run_worker(*, real: bool = False) -> None:
    """The worker: the queued dashboard tasks run as test_jobs.py runs tasks (`.call`), or with `real` the
    deployed `manage.py db_worker`, which takes them from the database (it closes the connection, so only
    in a transactional test)."""
    if real:
        call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)
        return
    for job in Job.objects.filter(kind=Job.Kind.DASHBOARD, state=Job.State.QUEUED):
        tasks.refresh_dashboard.call(job.pk)


def get(client, url, capture):
    """A page request, with the enqueue that waits for its transaction's commit run as in production."""
    with capture(execute=True):
        return client.get(url)


def pending_dashboard_jobs(study) -> int:
    return Job.objects.filter(
        study=study, kind=Job.Kind.DASHBOARD, state__in=[Job.State.QUEUED, Job.State.RUNNING]
    ).count()


class ComputeGuard:
    """While `in_request` is set, computing the figures fails the test; the worker runs with it unset."""

    in_request = True


@pytest.fixture
def no_compute_in_requests(monkeypatch) -> ComputeGuard:
    guard, real = ComputeGuard(), dashboard.study_dashboard

    def guarded(study):
        assert not guard.in_request, "the dashboard's figures were computed inside a request"
        return real(study)

    monkeypatch.setattr(dashboard, "study_dashboard", guarded)
    return guard


def worker_run(guard: ComputeGuard, *, real: bool = False) -> None:
    guard.in_request = False
    run_worker(real=real)
    guard.in_request = True


def test_before_the_first_result_the_page_says_the_figures_are_being_computed(
    study, django_user_model, django_capture_on_commit_callbacks, no_compute_in_requests
):
    play(study)
    url = reverse("survey:dashboard", args=[study.slug])
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        page = get(signed_in(django_user_model), url, django_capture_on_commit_callbacks)
    html = page.content.decode()
    assert page.status_code == 200 and "The figures are being computed" in html
    assert 'http-equiv="refresh"' in html and "Clopper-Pearson" not in html
    assert "sessions started" not in html  # no figures, not even counts, are computed in a request
    assert pending_dashboard_jobs(study) == 1


def test_a_stale_result_is_served_at_once_labelled_and_refreshing(
    study, django_user_model, django_capture_on_commit_callbacks, no_compute_in_requests
):
    play(study)
    url = reverse("survey:dashboard", args=[study.slug])
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        client = signed_in(django_user_model)
        get(client, url, django_capture_on_commit_callbacks)
        worker_run(no_compute_in_requests)
        first = get(client, url, django_capture_on_commit_callbacks)
        fresh = first.content.decode()
        assert "Clopper-Pearson" in fresh and "updating" not in fresh and 'http-equiv="refresh"' not in fresh
        play(study, label="second expert")
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        client = signed_in(django_user_model)
        page = get(client, url, django_capture_on_commit_callbacks)
    html = page.content.decode()
    computed_at = Job.objects.get(study=study, kind=Job.Kind.DASHBOARD, state=Job.State.DONE).finished_at
    new = selectors.study_progress(study).answered - first.context["dashboard"].progress.answered
    assert new > 0 and page.status_code == 200 and "Clopper-Pearson" in html  # the last figures, at once
    assert f"Figures as of {computed_at:%H:%M:%S} UTC; {new} new answers since — updating" in html
    assert 'http-equiv="refresh"' in html and "1</strong> sessions started" in html  # as of then


def test_repeated_requests_queue_exactly_one_recompute(
    study, django_user_model, django_capture_on_commit_callbacks, no_compute_in_requests
):
    play(study)
    url = reverse("survey:dashboard", args=[study.slug])
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        client, other = signed_in(django_user_model), signed_in(django_user_model)
        for browser in (client, other, client):
            assert get(browser, url, django_capture_on_commit_callbacks).status_code == 200
    assert pending_dashboard_jobs(study) == 1 and DBTaskResult.objects.count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():  # the database itself holds the rule
        Job.objects.create(study=study, kind=Job.Kind.DASHBOARD, state=Job.State.RUNNING)


@pytest.mark.django_db(transaction=True)
def test_after_the_worker_runs_the_fresh_figures_are_served(
    study, django_user_model, django_capture_on_commit_callbacks, no_compute_in_requests
):
    play(study)
    url = reverse("survey:dashboard", args=[study.slug])
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        client = signed_in(django_user_model)
        get(client, url, django_capture_on_commit_callbacks)
        worker_run(no_compute_in_requests, real=True)
        play(study, label="second expert")
        get(client, url, django_capture_on_commit_callbacks)  # stale: a second recompute queued
        worker_run(no_compute_in_requests, real=True)
        page = get(client, url, django_capture_on_commit_callbacks)
    html = page.content.decode()
    view = page.context["figures"]
    assert view.fresh and view.new_answers == 0 and "updating" not in html and 'http-equiv="refresh"' not in html
    assert page.context["dashboard"].categories and "data:image/png;base64," in html
    assert "2</strong> sessions started" in html and pending_dashboard_jobs(study) == 0
    # the newest result is all a page reads: the older one is gone
    assert Job.objects.filter(study=study, kind=Job.Kind.DASHBOARD).count() == 1


def test_the_answers_since_count_this_studys_timed_answers_only(study, disorders, monkeypatch):
    """What the stale label says: answered timed questions of this study after the figures' last answer;
    another study's answers and skips never count, however the ids are batched."""
    from survey.models import Answer, Outcome
    from tests.survey.factories import StudyFactory, make_bank

    play(study)
    last = Answer.objects.latest("pk").pk
    other = StudyFactory(slug="other", disorders=disorders)
    make_bank(other, disorders)
    play(other, label="another study's expert")
    play(study, label="second expert")
    second = Answer.objects.filter(
        pk__gt=last, outcome=Outcome.ANSWERED, question__session__study=study, question__is_practice=False
    ).count()
    assert second > 0 and Answer.objects.filter(question__session__study=other).exists()
    assert dashboard._answers_since(study, last) == second
    monkeypatch.setattr(dashboard, "IN_BATCH", 2)  # several batches of ids
    assert dashboard._answers_since(study, last) == second
    assert dashboard._answers_since(other, last) == selectors.study_progress(other).answered
