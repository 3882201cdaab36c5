"""The participant's per-question work costs the same number of SQL queries whatever the size of the image
bank: serving, showing and answering a question must never scan or loop over the bank. (tools/load/queries.py
prints the same for banks of 100 and 100,000 portraits.)"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from survey import selectors, services
from survey.models import Portrait, QuizSession, Study
from tests.survey.factories import InviteFactory, StudyFactory
from tools.load.common import bank_rows

SMALL_BANK = 100
LARGE_BANK = 5_000
QUESTIONS = 4  # per session, so that more than one category is walked


def queries(action: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured)


def on_quiz(study: Study) -> QuizSession:
    session = services.session_start(invite=InviteFactory(study=study))
    services.session_profile_submit(session=session, profession="other", years_experience=3)
    return services.session_quiz_begin(session=session)


def per_question_counts(study: Study) -> dict[str, set[int]]:
    """Queries of each per-question step over the first questions of a new session, by step."""
    session = on_quiz(study)
    counts: dict[str, set[int]] = {}
    for i in range(QUESTIONS):
        served: list = []
        counts.setdefault("serve", set()).add(
            queries(lambda served=served: served.append(services.session_current_question(session=session)))
        )
        question = served[0]
        counts.setdefault("reload", set()).add(queries(lambda: services.session_current_question(session=session)))
        counts.setdefault("view", set()).add(queries(lambda question=question: selectors.question_view(question)))
        # Alternate an answer and a skip: both paths of answer_submit.
        choice = question.options.order_by("slot").first().code if i % 2 == 0 else None
        counts.setdefault("answer" if choice else "skip", set()).add(
            queries(
                lambda question=question, choice=choice: services.answer_submit(
                    session=session, question_id=question.pk, choice=choice
                )
            )
        )
    return counts


@pytest.fixture
def small_study(disorders) -> Study:
    study = StudyFactory(disorders=disorders, n_real_vs_synthetic=2, n_reidentification=2, n_diagnosis=2)
    bank_rows(study, SMALL_BANK)
    return study


def test_query_counts_do_not_grow_with_the_bank(small_study):
    small = per_question_counts(small_study)
    bank_rows(small_study, LARGE_BANK - SMALL_BANK, start=SMALL_BANK)
    assert Portrait.objects.filter(study=small_study).count() == LARGE_BANK
    large = per_question_counts(small_study)

    assert small == large
    # Constant within a session too: every question of a kind of step costs the same.
    assert all(len(counts) == 1 for counts in small.values()), small


# --- through the participant API: what one request costs, and the session read once ----------------------

API_QUESTIONS = 4


def api_step_sql(study: Study) -> dict[str, list[list[str]]]:
    """The SQL of each participant API request over the first questions of a new session, by step."""
    from rest_framework.test import APIClient

    client = APIClient()
    started = client.post(
        "/api/participant/sessions/",
        {
            "invite": InviteFactory(study=study).token,
            "consent": True,
            "profession": "other",
            "years_experience": 3,
        },
        format="json",
    )
    assert started.status_code == 201, started.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {started.json()['token']}")
    steps: dict[str, list[list[str]]] = {}

    def call(step: str, method: str, path: str, expected: int = 200, **data):
        with CaptureQueriesContext(connection) as captured:
            response = getattr(client, method)(path, data or None, format="json")
        assert response.status_code == expected, (step, response.status_code, response.content[:300])
        steps.setdefault(step, []).append([q["sql"] for q in captured.captured_queries])
        return response

    call("begin", "post", "/api/participant/session/begin/")
    for _ in range(API_QUESTIONS):
        question = call("serve", "get", "/api/participant/question/").json()
        call("reload", "get", "/api/participant/question/")
        urls = question["stimulus_urls"] + [o["image_url"] for o in question["options"] if o["image_url"]]
        call("image", "get", urls[0], expected=404)  # bank rows without files: the same lookups as a 200
        call("clock start", "post", f"/api/participant/questions/{question['id']}/start/")
        call(
            "answer",
            "post",
            f"/api/participant/questions/{question['id']}/answer/",
            choice=question["options"][0]["code"],
        )
    return steps


def _session_reads(sql: list[str]) -> list[str]:
    return [
        q
        for q in sql
        if q.startswith("SELECT")
        and q.split(" WHERE ")[0].endswith('FROM "survey_quizsession"')
        or q.startswith("SELECT")
        and 'FROM "survey_quizsession" INNER JOIN' in q.split(" WHERE ")[0]
    ]


@pytest.fixture
def arming_free_study(small_study) -> Study:
    small_study.arming_delay_ms = 0  # the test client answers at the instant the clock starts
    small_study.save()
    return small_study


def test_an_api_request_reads_the_participants_session_once(arming_free_study):
    """On PostgreSQL the query that authenticates the participant also locks their session's row (and only
    that row, not the study's that every participant shares); the services do not fetch it again. SQLite
    has no row locks: a step re-reads the session inside its write lock."""
    postgres = connection.vendor == "postgresql"
    for step, requests in api_step_sql(arming_free_study).items():
        for sql in requests:
            reads = _session_reads(sql)
            if step == "image":  # the session is matched by its token inside the image's own query
                assert reads == [] and 'INNER JOIN "survey_quizsession"' in sql[0], sql
                continue
            assert len(reads) == (1 if postgres else 2), (step, reads)
            if postgres:
                assert reads[0].endswith('FOR UPDATE OF "survey_quizsession"'), (step, reads[0][-80:])


# What each participant request costs (statements counted as Django sends them, transaction control
# included). Lower is better; a change that adds a query per request has to say so here.
API_QUERIES = {
    "postgresql": {"reload": 6, "clock start": 5, "answer": 8, "image": 1},
    "sqlite": {"reload": 7, "clock start": 6, "answer": 9, "image": 1},  # the session read again in the lock
}


def test_api_requests_cost_a_fixed_small_number_of_queries(arming_free_study):
    counts = {
        step: sorted({len(sql) for sql in requests}) for step, requests in api_step_sql(arming_free_study).items()
    }
    expected = API_QUERIES[connection.vendor]
    for step, n in expected.items():
        assert counts[step] == [n], (step, counts[step], n)
