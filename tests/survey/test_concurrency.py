"""Concurrent requests of one participant (double clicks, retries, two tabs) on PostgreSQL, through the
whole request handler: one answer, one session per single-use invite, one serve per question."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from survey import services
from survey.models import Answer, Question, QuizSession
from tests.survey.factories import InviteFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
N_THREADS = 8


def run_together(work: Callable[[int], object]) -> list[object]:
    """Run `work(i)` in N threads released at the same instant; each thread uses its own connection."""
    barrier = threading.Barrier(N_THREADS)
    results: list[object] = [None] * N_THREADS

    def target(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as error:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(N_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def participant_client(session: QuizSession) -> Client:
    client = Client()
    store = client.session
    store["survey_access_token"] = session.access_token
    store.save()
    return client


def test_concurrent_answers_to_one_question_record_exactly_one(study, invite):
    session = services.session_start(invite=invite)
    services.session_profile_submit(session=session, profession="other", years_experience=3)
    services.session_quiz_begin(session=session)
    question = services.session_current_question(session=session)
    codes = list(question.options.values_list("code", flat=True))
    clients = [participant_client(session) for _ in range(N_THREADS)]
    url = reverse("survey:answer", args=[question.pk])

    statuses = run_together(lambda i: clients[i].post(url, {"choice": codes[i % len(codes)]}).status_code)

    assert statuses == [302] * N_THREADS, statuses
    assert Answer.objects.filter(question=question).count() == 1
    # The next question was served at most once, by the requests that came after the answer.
    assert Answer.objects.filter(question__session=session).count() == 1


def test_concurrent_service_calls_return_the_one_recorded_answer(study, invite):
    session = services.session_start(invite=invite)
    services.session_profile_submit(session=session, profession="other", years_experience=3)
    services.session_quiz_begin(session=session)
    question = services.session_current_question(session=session)
    codes = list(question.options.values_list("code", flat=True))

    def answer(i: int):
        try:
            return services.answer_submit(session=session, question_id=question.pk, choice=codes[i % len(codes)]).pk
        except services.AlreadyAnswered as refused:
            return ("refused", refused.answer.pk)

    results = run_together(answer)
    recorded = Answer.objects.get(question=question)
    assert [r for r in results if r == recorded.pk] == [recorded.pk]
    assert all(r == ("refused", recorded.pk) for r in results if r != recorded.pk), results


def test_concurrent_consents_on_a_single_use_invite_make_one_session(study):
    invite = InviteFactory(study=study)

    def consent(_: int):
        try:
            return services.session_start(invite=invite).pk
        except services.InviteInUse:
            return "in use"

    results = run_together(consent)
    started = [r for r in results if r != "in use"]
    assert len(started) == 1 and results.count("in use") == len(results) - 1, results
    assert QuizSession.objects.filter(invite=invite).count() == 1


def test_concurrent_reloads_serve_a_question_once(study, invite):
    session = services.session_start(invite=invite)
    services.session_profile_submit(session=session, profession="other", years_experience=3)
    services.session_quiz_begin(session=session)
    results = run_together(lambda i: services.session_current_question(session=session).pk)
    assert len(set(results)) == 1
    assert Question.objects.filter(session=session, served_at__isnull=False, is_practice=False).count() == 1
