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


# --- the clock the server evidences (survey/clock.py) --------------------------------------------------


def deliver_every_portrait(question) -> None:
    for shown in question.images.all():
        services.portrait_delivered(shown=shown)


def test_a_page_that_holds_back_its_report_gains_no_viewing_time(quiz_session, clock):
    """The clock starts when the server has delivered the last portrait (plus the transfer allowance),
    however late the page says the portraits are shown."""
    question = services.session_current_question(session=quiz_session)
    clock.shift(seconds(1))
    deliver_every_portrait(question)
    clock.shift(seconds(8))  # a script looks for 8 s before it reports the reveal
    services.question_clock_start(session=quiz_session, question_id=question.pk)
    question.refresh_from_db()
    assert question.clock_started_at == T0 + seconds(1) + timedelta(milliseconds=question.transfer_allowance_ms)
    assert question.clock_rule == "portraits_delivered"
    answer = services.answer_submit(session=quiz_session, question_id=question.pk, choice=question.correct_choice)
    assert answer.response_ms == 8_000 - question.transfer_allowance_ms


def test_a_prompt_report_starts_the_clock_itself(quiz_session, clock):
    question = services.session_current_question(session=quiz_session)
    clock.shift(seconds(1))
    deliver_every_portrait(question)
    clock.shift(seconds(0.3))
    services.question_clock_start(session=quiz_session, question_id=question.pk)
    question.refresh_from_db()
    assert (question.clock_started_at, question.clock_rule) == (T0 + seconds(1.3), "client_start")


def test_the_clock_does_not_start_on_delivery_until_every_portrait_is_delivered(quiz_session, clock):
    question = services.session_current_question(session=quiz_session)
    if question.images.count() == 1:  # a diagnosis question came first: take the next question with several
        question = quiz_session.questions.exclude(category="diagnosis").order_by("sequence").first()
        type(question).objects.filter(pk=question.pk).update(served_at=T0)
        question.refresh_from_db()
    first, *rest = question.images.all()
    services.portrait_delivered(shown=first)
    question.refresh_from_db()
    assert rest and question.portraits_delivered_at is None
    assert question.latest_clock_start().rule == "load_allowance"


def test_the_export_says_which_rule_started_each_clock(quiz_session, clock):
    from survey.export import answers_frame

    question = services.session_current_question(session=quiz_session)
    deliver_every_portrait(question)
    clock.shift(seconds(20))  # no report at all: the delivery started the clock
    services.answer_submit(session=quiz_session, question_id=question.pk, choice=None)
    second = services.session_current_question(session=quiz_session)
    services.question_clock_start(session=quiz_session, question_id=second.pk)
    clock.shift(seconds(2))
    services.answer_submit(session=quiz_session, question_id=second.pk, choice=None)
    rules = answers_frame(quiz_session.study).set_index("question")["clock_rule"].to_dict()
    assert rules == {question.pk: "portraits_delivered", second.pk: "client_start"}


# --- arming: no click meant for one question answers the next ----------------------------------------


@pytest.fixture
def armed_study(quiz_session):
    Question = type(services.session_current_question(session=quiz_session))
    Question.objects.filter(session=quiz_session).update(arming_delay_ms=400)
    return quiz_session


@pytest.mark.parametrize("after_ms", [0, 150, 300, 399])
def test_an_answer_before_the_question_arms_is_refused_and_changes_nothing(armed_study, clock, after_ms):
    question = services.session_current_question(session=armed_study)
    services.question_clock_start(session=armed_study, question_id=question.pk)
    clock.shift(timedelta(milliseconds=after_ms))
    for choice in (question.correct_choice, None):
        with pytest.raises(services.TooEarly):
            services.answer_submit(session=armed_study, question_id=question.pk, choice=choice)
    question.refresh_from_db()
    assert not hasattr(question, "answer") and question.clock_started_at == T0


def test_an_answer_once_armed_counts(armed_study, clock):
    question = services.session_current_question(session=armed_study)
    services.question_clock_start(session=armed_study, question_id=question.pk)
    clock.shift(timedelta(milliseconds=400))
    answer = services.answer_submit(session=armed_study, question_id=question.pk, choice=question.correct_choice)
    assert (answer.outcome, answer.response_ms) == (Outcome.ANSWERED, 400)


def test_an_answer_with_no_report_and_no_delivery_is_too_early_and_starts_nothing(armed_study, clock):
    """A script that posts the answer without showing anything: the clock would start at that instant."""
    question = services.session_current_question(session=armed_study)
    clock.shift(seconds(3))
    with pytest.raises(services.TooEarly):
        services.answer_submit(session=armed_study, question_id=question.pk, choice=question.correct_choice)
    question.refresh_from_db()
    assert question.clock_started_at is None


def test_the_api_refuses_an_early_answer_with_409_and_its_reason(armed_study, clock):
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {armed_study.access_token}")
    question = api.get("/api/participant/question/").json()
    api.post(f"/api/participant/questions/{question['id']}/start/")
    clock.shift(timedelta(milliseconds=200))
    early = api.post(f"/api/participant/questions/{question['id']}/skip/")
    assert early.status_code == 409 and early.json()["error"] == "too_early"
    clock.shift(timedelta(milliseconds=200))
    assert api.post(f"/api/participant/questions/{question['id']}/skip/").json() == {"outcome": "skipped"}


def test_a_choice_that_is_no_option_code_is_refused_before_anything_is_stored(quiz_session, served, clock):
    clock.shift(seconds(1))
    for choice in ("A\x00", "x" * 10_000, "\n"):
        with pytest.raises(services.UnknownOption):
            services.answer_submit(session=quiz_session, question_id=served.pk, choice=choice)
    clock.shift(seconds(60))  # late, too: the claim is refused, not written to the audit field
    with pytest.raises(services.UnknownOption):
        services.answer_submit(session=quiz_session, question_id=served.pk, choice="y" * 65)
    assert not hasattr(type(served).objects.get(pk=served.pk), "answer")
