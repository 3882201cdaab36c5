"""The participant's per-question work costs the same number of SQL queries whatever the size of the image
bank: serving, showing and answering a question must never scan or loop over the bank. (tests/load/queries.py
prints the same for banks of 100 and 100,000 portraits.)"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from survey import selectors, services
from survey.models import Portrait, QuizSession, Study
from tests.load.common import bank_rows
from tests.survey.factories import InviteFactory, StudyFactory

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
            queries(lambda: served.append(services.session_current_question(session=session))))
        question = served[0]
        counts.setdefault("reload", set()).add(queries(lambda: services.session_current_question(session=session)))
        counts.setdefault("view", set()).add(queries(lambda: selectors.question_view(question)))
        # Alternate an answer and a skip: both paths of answer_submit.
        choice = question.options.order_by("slot").first().code if i % 2 == 0 else None
        counts.setdefault("answer" if choice else "skip", set()).add(
            queries(lambda: services.answer_submit(session=session, question_id=question.pk, choice=choice)))
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
