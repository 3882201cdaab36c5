"""Abandoned sessions are closed by one rule (Question.is_overdue): `manage.py close_expired` records the
timeouts, and every read (exports, dashboard, admin progress) counts them the same way without writing."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import time_machine
from django.core.management import call_command

from survey import export, selectors, services
from survey.models import Answer, Outcome
from tests.survey.factories import InviteFactory, StudyFactory, make_bank

T0 = datetime(2031, 5, 4, 8, 0, tzinfo=UTC)


def abandon(study):
    """A participant answers the first question, is served the second, and walks away."""
    session = services.session_start(invite=InviteFactory(study=study))
    services.session_profile_submit(session=session, profession="other", years_experience=1)
    services.session_quiz_begin(session=session)
    first = services.session_current_question(session=session)
    services.answer_submit(session=session, question_id=first.pk, choice=first.correct_choice)
    second = services.session_current_question(session=session)
    return session, second


@pytest.fixture
def abandoned(study):
    with time_machine.travel(T0, tick=False):
        session, question = abandon(study)
    return session, question


def latest_deadline(question):
    """The latest the question can time out: served + load allowance + limit + grace."""
    return question.served_at + timedelta(
        milliseconds=question.load_allowance_ms + question.time_limit_ms + question.grace_ms
    )


def test_a_question_within_its_deadline_and_grace_is_not_overdue(study, abandoned):
    _, question = abandoned
    assert selectors.overdue_questions(study, now=latest_deadline(question)) == []
    just_after = latest_deadline(question) + timedelta(milliseconds=1)
    assert [q.pk for q in selectors.overdue_questions(study, now=just_after)] == [question.pk]


def test_reads_count_the_overdue_question_as_a_timeout_without_writing(
    study, abandoned, client, admin_user, django_capture_on_commit_callbacks
):
    _, question = abandoned
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        client.force_login(admin_user)  # logged in then, not when the fixture ran
        admin_client = client
        assert Answer.objects.count() == 1
        answers = export.answers_frame(study)
        assert list(answers.outcome) == ["answered", "timeout"]
        timeout = answers.iloc[1]
        assert timeout.choice == "" and timeout.correct == "" and timeout.response_ms == ""
        assert export.participants_frame(study).iloc[0].n_timeout == 1
        options = export.options_frame(study)
        assert set(options[options.question == question.pk].chosen) == {0}
        assert selectors.study_progress(study).timed_out == 1

        for table in ("answers", "options", "participants"):
            response = admin_client.get(f"/api/studies/{study.slug}/export/{table}.csv")
            assert response.status_code == 200
        streamed = admin_client.get(f"/api/studies/{study.slug}/export/answers.csv").streaming_content
        assert b",timeout," in b"".join(streamed)
        from tests.survey.test_dashboard_refresh import run_worker

        with django_capture_on_commit_callbacks(execute=True):
            admin_client.get(f"/staff/studies/{study.slug}/dashboard/")  # queues the figures for the worker
        run_worker()  # the worker's reads write nothing either
        page = admin_client.get(f"/staff/studies/{study.slug}/dashboard/")
        assert page.status_code == 200 and page.context["dashboard"].progress.timed_out == 1
        assert b"1 timeouts" in page.content
        assert b"timeout" in b"".join(
            admin_client.get(f"/api/studies/{study.slug}/export/answers.json").streaming_content
        )
        assert admin_client.get(f"/api/studies/{study.slug}/export/settings.json").status_code == 200
        assert Answer.objects.count() == 1  # no GET wrote anything


def test_close_expired_records_what_reads_already_counted(study, abandoned):
    _, question = abandoned
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        before = {table: export.FRAMES[table](study) for table in export.FRAMES}
        out = io.StringIO()
        call_command("close_expired", study.slug, stdout=out)
        assert "Closed 1 overdue question(s)" in out.getvalue()
        answer = Answer.objects.get(question=question)
        assert answer.outcome == Outcome.TIMEOUT and answer.answered_at == question.deadline()
        for table, frame in before.items():  # the record now matches what every read showed
            pd.testing.assert_frame_equal(export.FRAMES[table](study), frame)
        assert selectors.study_progress(study).timed_out == 1
        call_command("close_expired", study.slug, stdout=out)  # idempotent
        assert Answer.objects.filter(question=question).count() == 1


def test_close_expired_without_a_slug_closes_every_study(study, abandoned, disorders):
    other = StudyFactory(disorders=disorders)
    make_bank(other, disorders)
    with time_machine.travel(T0, tick=False):
        abandon(other)
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        call_command("close_expired", stdout=io.StringIO())
    assert Answer.objects.filter(outcome=Outcome.TIMEOUT).count() == 2


def test_close_expired_leaves_a_running_question_alone(study, abandoned):
    _, question = abandoned
    with time_machine.travel(latest_deadline(question) - timedelta(seconds=1), tick=False):
        call_command("close_expired", study.slug, stdout=io.StringIO())
    assert not Answer.objects.filter(question=question).exists()


def test_export_results_records_the_timeouts_through_the_same_function(study, abandoned, tmp_path, monkeypatch):
    calls = []
    original = services.study_expire_overdue
    monkeypatch.setattr(services, "study_expire_overdue", lambda **kw: calls.append(kw) or original(**kw))
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        call_command("export_results", study.slug, out=str(tmp_path), stdout=io.StringIO())
        call_command("close_expired", study.slug, stdout=io.StringIO())
    assert [c["study"] for c in calls] == [study, study]
    assert Answer.objects.filter(outcome=Outcome.TIMEOUT).count() == 1
