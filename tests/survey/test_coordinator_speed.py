"""What keeps coordinator pages fast as a study grows: the dashboard's analysis is recomputed by the worker
once per version of the results (tests/survey/test_dashboard_refresh.py: never inside a request), the item
view is cached per version; CSV and JSON exports stream row by row with the same
values as the tables they stand for. (How fast: scripts/bench_coordinator.py prints the figures.)"""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pandas as pd
import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from survey import dashboard, export, services
from tests.survey.test_export import T0, play


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def signed_in(django_user_model) -> Client:
    """A superuser's browser, signed in at the test's (travelled) time so the login has not expired."""
    client = Client()
    client.force_login(django_user_model.objects.get_or_create(username="boss", is_staff=True, is_superuser=True)[0])
    return client


@pytest.fixture
def builds(monkeypatch):
    """How many times the dashboard and the item view were really computed."""
    counts = {"dashboard": 0, "items": 0}
    real_dashboard, real_items = dashboard.study_dashboard, dashboard.item_view

    def counted_dashboard(study):
        counts["dashboard"] += 1
        return real_dashboard(study)

    def counted_items(study):
        counts["items"] += 1
        return real_items(study)

    monkeypatch.setattr(dashboard, "study_dashboard", counted_dashboard)
    monkeypatch.setattr(dashboard, "item_view", counted_items)
    return counts


def test_the_dashboard_is_computed_once_per_version_of_the_answers(
    study, django_user_model, builds, django_capture_on_commit_callbacks
):
    """By the worker, never in a request: a request queues a recompute only when the answers changed."""
    from tests.survey.test_dashboard_refresh import get, run_worker

    play(study)
    url = reverse("survey:dashboard", args=[study.slug])
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        admin_client = signed_in(django_user_model)
        get(admin_client, url, django_capture_on_commit_callbacks)
        assert builds["dashboard"] == 0
        run_worker()
        first = get(admin_client, url, django_capture_on_commit_callbacks)
        second = get(admin_client, url, django_capture_on_commit_callbacks)
        run_worker()  # nothing was queued: the figures are current
        assert first.status_code == second.status_code == 200 and builds["dashboard"] == 1
        assert first.context["figures"].fresh and second.context["figures"].fresh
        admin_client.get(reverse("survey:items", args=[study.slug]))
        admin_client.get(reverse("survey:items", args=[study.slug]))
        assert builds["items"] == 1

        play(study, label="second expert")  # new answers: a new version
        third = get(admin_client, url, django_capture_on_commit_callbacks)
        assert not third.context["figures"].fresh and third.context["dashboard"].progress.sessions_started == 1
        run_worker()
        assert builds["dashboard"] == 2
        assert (
            get(admin_client, url, django_capture_on_commit_callbacks).context["dashboard"].progress.sessions_started
            == 2
        )
        services.session_start(invite=services.invites_issue(study=study, count=1)[0])  # a session, no answer yet
        assert not get(admin_client, url, django_capture_on_commit_callbacks).context["figures"].fresh
        run_worker()
        assert builds["dashboard"] == 3
        assert (
            get(admin_client, url, django_capture_on_commit_callbacks).context["dashboard"].progress.sessions_started
            == 3
        )


def test_a_question_left_past_its_deadline_makes_a_new_version_without_any_write(
    study, django_user_model, builds, django_capture_on_commit_callbacks
):
    from tests.survey.test_dashboard_refresh import get, run_worker

    play(study)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False) as clock:
        admin_client = signed_in(django_user_model)
        second = services.session_start(invite=services.invites_issue(study=study, count=1)[0])
        services.session_profile_submit(session=second, profession="other", years_experience=1)
        services.session_quiz_begin(session=second)
        question = services.session_current_question(session=second)
        services.question_clock_start(session=second, question_id=question.pk)
        url = reverse("survey:dashboard", args=[study.slug])
        get(admin_client, url, django_capture_on_commit_callbacks)
        run_worker()
        before = get(admin_client, url, django_capture_on_commit_callbacks)
        clock.shift(timedelta(minutes=10))  # abandoned: an overdue question counts as a timeout on read
        after = get(admin_client, url, django_capture_on_commit_callbacks)
        run_worker()
        recomputed = get(admin_client, url, django_capture_on_commit_callbacks)
    assert before.context["figures"].fresh and not after.context["figures"].fresh
    assert recomputed.context["dashboard"].progress.timed_out == before.context["dashboard"].progress.timed_out + 1
    assert builds["dashboard"] == 2


@pytest.mark.parametrize("table", ["answers", "options", "participants"])
def test_the_streamed_csv_is_the_table_pandas_would_write(study, table):
    play(study)
    play(study, label="another")
    streamed = b"".join(export.csv_chunks(study, table))
    assert streamed == export.FRAMES[table](study).to_csv(index=False, lineterminator="\n").encode()


def test_the_streamed_json_holds_the_same_records(study, monkeypatch):
    play(study)
    monkeypatch.setattr("survey.export.formats.STREAM_ROWS", 7)  # several chunks
    records = json.loads(b"".join(export.json_chunks(study, "answers")))
    frame = pd.read_csv(io.BytesIO(export.answers_csv(study)), keep_default_na=False, dtype=str)
    assert len(records) == len(frame) == 30
    assert [str(r["seed"]) for r in records] == list(frame.seed)
    assert [r["outcome"] for r in records] == list(frame.outcome)


def test_a_csv_download_streams_in_chunks(study, admin_client, monkeypatch):
    play(study)
    monkeypatch.setattr("survey.export.formats.STREAM_ROWS", 5)
    response = admin_client.get(reverse("api:study-export", args=[study.slug, "answers", "csv"]))
    chunks = list(response.streaming_content)
    assert response.streaming and len(chunks) >= 6  # header and 30 rows, five at a time
    assert b"".join(chunks) == export.answers_csv(study)


def test_the_item_view_counts_what_the_options_export_says(study):
    """The item view counts in the database; the same counts from the exported options and answers tables."""
    from tests.survey.test_coordinator_pages import play_fooled

    play(study)
    play_fooled(study)
    answers = export.answers_frame(study)
    answered = set(answers.question[answers.outcome == "answered"])
    options = export.options_frame(study)
    options = options[(options.portrait != "") & options.question.isin(answered)]
    view = dashboard.item_view(study)
    by_hash = {item.content_hash: item for item in view.portraits}
    for category, shown, chosen in [
        ("real_vs_synthetic", "rvs_shown", "rvs_chosen"),
        ("reidentification", "reid_shown", "reid_chosen"),
    ]:
        rows = options[options.category == category]
        expected = rows.groupby("portrait").chosen.agg(["count", "sum"])
        assert len(expected)
        for content_hash, row in expected.iterrows():
            item = by_hash[content_hash]
            assert (getattr(item, shown), getattr(item, chosen)) == (row["count"], row["sum"])
    n_diagnosed = ((answers.category == "diagnosis") & (answers.outcome == "answered")).sum()
    assert sum(item.diag_shown for item in view.portraits) == n_diagnosed
    right = ((answers.category == "diagnosis") & (answers.correct.astype(str) == "1")).sum()
    assert sum(item.diag_right for item in view.portraits) == right


def test_each_answer_of_a_running_session_makes_a_new_version(quiz_session):
    study = quiz_session.study
    versions = {dashboard.results_version(study)}
    for _ in range(3):
        question = services.session_current_question(session=quiz_session)
        services.answer_submit(session=quiz_session, question_id=question.pk, choice=question.correct_choice)
        versions.add(dashboard.results_version(study))
    assert len(versions) == 4
    assert dashboard.results_version(study) == dashboard.results_version(study)  # reading changes nothing


@pytest.mark.parametrize("table", ["answers", "options", "participants"])
def test_reading_a_few_sessions_at_a_time_keeps_the_export_order(study, table, monkeypatch):
    for label in ("first", "second", "third"):
        play(study, label=label)
    whole = list(export.ROWS[table][1](study))
    monkeypatch.setattr("survey.export.common.SESSIONS_PER_QUERY", 1)
    assert list(export.ROWS[table][1](study)) == whole
    sessions = [row["session"] for row in whole]
    assert sessions == sorted(sessions, key=sessions.index) and len(set(sessions)) == 3  # grouped by session
