"""Each category opens with a timed practice question whose answer the expert is told; it is never exported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from survey import selectors, services
from survey.export import answers_frame
from tests.survey.factories import InviteFactory

T0 = datetime(2031, 3, 1, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def session(study):
    study.with_practice = True
    study.save()
    with time_machine.travel(T0, tick=False):
        session = services.session_start(invite=InviteFactory(study=study))
        services.session_profile_submit(session=session, profession="other", years_experience=3)
        return services.session_quiz_begin(session=session)


def answer_current(session, *, choice=None, right=True, at: datetime):
    with time_machine.travel(at, tick=False):
        question = services.session_current_question(session=session)
        services.question_clock_start(session=session, question_id=question.pk)
    with time_machine.travel(at + timedelta(seconds=2), tick=False):
        if choice is None and right:
            choice = question.correct_choice
        services.answer_submit(session=session, question_id=question.pk, choice=choice)
    return question


def test_the_first_question_is_a_practice_question_with_its_categorys_clock(session):
    upcoming = services.session_current_question(session=session, serve=False)
    assert upcoming.is_practice and upcoming.served_at is None  # not served before its introduction
    assert upcoming.time_limit_ms == session.study.time_limit_ms(upcoming.category)
    intro = selectors.category_intro(upcoming)
    assert intro.is_practice and intro.part == 1 and intro.parts == 3 and intro.practice_result is None
    assert intro.n_questions == 10 and intro.time_limit_s == upcoming.time_limit_ms // 1000


def test_after_practice_the_intro_to_the_timed_questions_tells_whether_it_was_right(session):
    practice = answer_current(session, at=T0)
    timed = services.session_current_question(session=session, serve=False)
    assert not timed.is_practice and timed.category == practice.category
    result = selectors.category_intro(timed).practice_result
    assert result.right is True and result.outcome == "answered"
    assert result.correct_label == practice.options.get(code=practice.correct_choice).label


def test_a_wrong_practice_answer_is_told_with_the_right_one(session):
    upcoming = services.session_current_question(session=session, serve=False)
    wrong = upcoming.options.exclude(code=upcoming.correct_choice).first()
    answer_current(session, choice=wrong.code, at=T0)
    timed = services.session_current_question(session=session, serve=False)
    result = selectors.category_intro(timed).practice_result
    assert result.right is False and result.chosen_label == wrong.label


def test_a_practice_question_times_out_like_a_timed_one(session):
    with time_machine.travel(T0, tick=False):
        practice = services.session_current_question(session=session)
        services.question_clock_start(session=session, question_id=practice.pk)
    late = T0 + timedelta(milliseconds=practice.time_limit_ms + practice.grace_ms + 1)
    with time_machine.travel(late, tick=False):
        timed = services.session_current_question(session=session, serve=False)
    assert practice.__class__.objects.get(pk=practice.pk).answer.outcome == "timeout"
    assert selectors.category_intro(timed).practice_result.outcome == "timeout"


def test_a_question_inside_a_block_has_no_introduction(session):
    at = T0
    for _ in range(2):  # the practice question and the first timed one
        answer_current(session, at=at)
        at += timedelta(seconds=10)
    second = services.session_current_question(session=session, serve=False)
    assert not second.is_practice and selectors.category_intro(second) is None
    assert selectors.previous_outcome(session) == "answered"


def test_practice_answers_are_never_exported_and_never_scored(session):
    at = T0
    while services.session_current_question(session=session, serve=False) is not None:
        answer_current(session, at=at)
        at += timedelta(seconds=10)
    frame = answers_frame(session.study)
    assert len(frame) == 30 and set(frame["position"]) == set(range(1, 31))
    scores = selectors.session_scores(session)
    assert sum(s.answered for s in scores) == 30


def test_the_intro_can_only_serve_the_question_it_introduces(session):
    upcoming = services.session_current_question(session=session, serve=False)
    later = session.questions.exclude(pk=upcoming.pk).first()
    with pytest.raises(services.QuestionNotCurrent):
        services.question_serve(session=session, question_id=later.pk)
    served = services.question_serve(session=session, question_id=upcoming.pk)
    assert served.served_at is not None
