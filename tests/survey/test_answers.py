"""One answer per question, only for the current question, and outcomes stored as they happened."""

from __future__ import annotations

import pytest

from survey import services
from survey.models import Answer, Outcome, QuizSession
from tests.survey.factories import InviteFactory


def current(session):
    question = services.session_current_question(session=session)
    services.question_clock_start(session=session, question_id=question.pk)
    return question


def wrong_choice(question):
    return question.options.exclude(code=question.correct_choice).first().code


def test_a_second_submission_is_refused_and_returns_the_first_outcome(quiz_session):
    question = current(quiz_session)
    first = services.answer_submit(session=quiz_session, question_id=question.pk, choice=wrong_choice(question))
    with pytest.raises(services.AlreadyAnswered) as refused:
        services.answer_submit(session=quiz_session, question_id=question.pk, choice=question.correct_choice)
    assert refused.value.answer.pk == first.pk
    assert refused.value.answer.correct is False
    assert Answer.objects.filter(question=question).count() == 1


def test_a_skip_cannot_be_turned_into_an_answer(quiz_session):
    question = current(quiz_session)
    services.answer_submit(session=quiz_session, question_id=question.pk, choice=None)
    with pytest.raises(services.AlreadyAnswered) as refused:
        services.answer_submit(session=quiz_session, question_id=question.pk, choice=question.correct_choice)
    assert refused.value.answer.outcome == Outcome.SKIPPED


def test_a_later_question_cannot_be_answered_before_the_current_one(quiz_session):
    current(quiz_session)
    later = quiz_session.questions.get(is_practice=False, position=5)
    with pytest.raises(services.QuestionNotCurrent):
        services.answer_submit(session=quiz_session, question_id=later.pk, choice=later.correct_choice)
    assert not Answer.objects.filter(question=later).exists()


def test_a_question_of_another_session_is_refused(quiz_session, study):
    other = services.session_start(invite=InviteFactory(study=study))
    services.session_profile_submit(session=other, profession="other", years_experience=1)
    services.session_quiz_begin(session=other)
    theirs = current(other)
    current(quiz_session)
    with pytest.raises(services.QuestionNotCurrent):
        services.answer_submit(session=quiz_session, question_id=theirs.pk, choice=theirs.correct_choice)


def test_an_unknown_option_is_refused_and_nothing_is_recorded(quiz_session):
    question = current(quiz_session)
    with pytest.raises(services.UnknownOption):
        services.answer_submit(session=quiz_session, question_id=question.pk, choice="Z")
    assert not Answer.objects.filter(question=question).exists()


def test_skip_is_stored_as_its_own_outcome(quiz_session):
    question = current(quiz_session)
    answer = services.answer_submit(session=quiz_session, question_id=question.pk, choice=None)
    answer.refresh_from_db()
    assert (answer.outcome, answer.choice, answer.correct) == (Outcome.SKIPPED, "", None)
    assert answer.response_ms is not None


def test_a_wrong_answer_is_scored_wrong(quiz_session):
    question = current(quiz_session)
    answer = services.answer_submit(session=quiz_session, question_id=question.pk, choice=wrong_choice(question))
    assert answer.correct is False and answer.outcome == Outcome.ANSWERED


def test_questions_cannot_be_answered_before_the_quiz_begins(invite):
    session = services.session_start(invite=invite)
    with pytest.raises(services.WrongStage):
        services.session_current_question(session=session)


def test_the_session_finishes_after_its_last_question(quiz_session):
    for _ in range(30):
        question = current(quiz_session)
        services.answer_submit(session=quiz_session, question_id=question.pk, choice=question.correct_choice)
    assert services.session_current_question(session=quiz_session) is None
    quiz_session.refresh_from_db()
    assert quiz_session.stage == QuizSession.Stage.FINISHED and quiz_session.finished_at is not None
    assert Answer.objects.filter(question__session=quiz_session).count() == 30
