"""The server's clock: deadlines fixed at first serve, reloads, grace, load allowance, timeouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from survey import selectors, services
from survey.models import Outcome

T0 = datetime(2031, 3, 1, 9, 0, 0, tzinfo=UTC)  # after the fixtures were made


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def served(quiz_session, clock):
    """The first timed question, served at T0 and revealed at once."""
    question = services.session_current_question(session=quiz_session)
    services.question_clock_start(session=quiz_session, question_id=question.pk)
    question.refresh_from_db()
    return question


def test_it_fixes_the_deadline_when_the_question_is_first_served(served):
    assert served.served_at == T0
    assert served.deadline() == T0 + timedelta(milliseconds=served.time_limit_ms)


def test_a_reload_shows_the_same_question_with_the_remaining_time(quiz_session, served, clock):
    clock.shift(seconds(12))
    again = services.session_current_question(session=quiz_session)
    assert again.pk == served.pk
    assert again.served_at == T0  # a reload does not re-arm the clock
    view = selectors.question_view(again)
    assert view.remaining_ms == served.time_limit_ms - 12_000


def test_a_second_clock_start_does_not_restart_the_clock(quiz_session, served, clock):
    clock.shift(seconds(5))
    services.question_clock_start(session=quiz_session, question_id=served.pk)
    served.refresh_from_db()
    assert served.clock_started_at == T0


def test_the_clock_waits_for_the_portraits_to_load(quiz_session, clock):
    question = services.session_current_question(session=quiz_session)
    clock.shift(seconds(3))  # loading the portraits took 3 s
    services.question_clock_start(session=quiz_session, question_id=question.pk)
    question.refresh_from_db()
    assert question.clock_started_at == T0 + seconds(3)
    assert question.deadline() == T0 + seconds(3) + timedelta(milliseconds=question.time_limit_ms)


def test_the_clock_starts_at_the_end_of_the_load_allowance_at_the_latest(quiz_session, clock):
    question = services.session_current_question(session=quiz_session)
    clock.shift(timedelta(milliseconds=question.load_allowance_ms) + seconds(20))
    services.question_clock_start(session=quiz_session, question_id=question.pk)
    question.refresh_from_db()
    assert question.clock_started_at == T0 + timedelta(milliseconds=question.load_allowance_ms)


def test_an_answer_within_the_limit_is_scored_with_the_servers_response_time(quiz_session, served, clock):
    clock.shift(seconds(4.25))
    answer = services.answer_submit(session=quiz_session, question_id=served.pk, choice=served.correct_choice)
    assert answer.outcome == Outcome.ANSWERED
    assert answer.correct is True
    assert answer.response_ms == 4250


def test_an_answer_within_the_grace_period_counts(quiz_session, served, clock):
    clock.shift(timedelta(milliseconds=served.time_limit_ms + served.grace_ms))
    answer = services.answer_submit(session=quiz_session, question_id=served.pk, choice=served.correct_choice)
    assert answer.outcome == Outcome.ANSWERED


def test_an_answer_after_deadline_and_grace_is_a_timeout_whatever_it_claims(quiz_session, served, clock):
    clock.shift(timedelta(milliseconds=served.time_limit_ms + served.grace_ms + 1))
    answer = services.answer_submit(session=quiz_session, question_id=served.pk, choice=served.correct_choice)
    assert answer.outcome == Outcome.TIMEOUT
    assert answer.choice == "" and answer.correct is None and answer.response_ms is None
    assert answer.late_choice == served.correct_choice
    assert answer.answered_at == served.deadline()


def test_a_late_skip_is_a_timeout_too(quiz_session, served, clock):
    clock.shift(seconds(600))
    answer = services.answer_submit(session=quiz_session, question_id=served.pk, choice=None)
    assert answer.outcome == Outcome.TIMEOUT


def test_the_page_cannot_declare_a_timeout_before_the_servers_deadline(quiz_session, served, clock):
    clock.shift(timedelta(milliseconds=served.time_limit_ms - 500))
    with pytest.raises(services.NotExpired) as refused:
        services.question_expire(session=quiz_session, question_id=served.pk)
    assert refused.value.remaining_ms == 500
    assert not hasattr(served, "answer")


def test_the_page_declares_a_timeout_at_the_deadline(quiz_session, served, clock):
    clock.shift(timedelta(milliseconds=served.time_limit_ms))
    answer = services.question_expire(session=quiz_session, question_id=served.pk)
    assert answer.outcome == Outcome.TIMEOUT


def test_coming_back_after_the_deadline_records_a_timeout_and_serves_the_next_question(quiz_session, served, clock):
    clock.shift(seconds(3600))
    following = services.session_current_question(session=quiz_session)
    served.refresh_from_db()
    assert served.answer.outcome == Outcome.TIMEOUT
    assert following.position == served.position + 1
    assert following.served_at == T0 + seconds(3600)  # the next question's clock starts now, not before


def test_a_question_never_served_has_no_deadline(quiz_session, served):
    later = quiz_session.questions.get(is_practice=False, position=2)
    assert later.served_at is None and later.deadline() is None
