"""survey/prepared.py: a statement compiled once returns what its queryset returns, for any values; one it
cannot prepare runs as the queryset; and the participant's per-question statements are all prepared."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.db.models import Count, QuerySet

from survey.api import auth
from survey.models import Disorder, Question, QuizSession
from survey.prepared import PreparedSelect, PreparedUpdate
from survey.selectors import images as image_reads
from survey.selectors import questions as question_reads
from survey.services import portraits as portrait_writes
from survey.services import questions as question_writes
from tests.survey.factories import DisorderFactory


def _questions_to_show(session_id: int) -> QuerySet[Question]:
    return (
        Question.objects.filter(session_id=session_id)
        .select_related("disorder")
        .annotate(option_count=Count("options"))
        .order_by("sequence")
    )


def _disorder_rows(code: str, name: str) -> QuerySet:
    return Disorder.objects.filter(code=code).exclude(name=name).values_list("pk", "code", "name")


def _renamed(code: str, name: str) -> tuple[QuerySet[Disorder], dict]:
    return Disorder.objects.filter(code=code), {"name": name}


def _starting_with(prefix: str) -> QuerySet:
    return Disorder.objects.filter(code__startswith=prefix).values_list("code")  # the database gets "prefix%"


def test_models_with_related_rows_and_annotations_come_back_as_the_queryset_gives_them(quiz_session):
    prepared = PreparedSelect(_questions_to_show)
    assert prepared.is_prepared()
    for _ in range(2):  # the second run uses the compiled SQL only
        got, expected = prepared.run(quiz_session.pk), list(_questions_to_show(quiz_session.pk))
        assert [q.pk for q in got] == [q.pk for q in expected]
        for mine, theirs in zip(got, expected, strict=True):
            assert {f.attname: getattr(mine, f.attname) for f in Question._meta.concrete_fields} == {
                f.attname: getattr(theirs, f.attname) for f in Question._meta.concrete_fields
            }
            assert mine.option_count == theirs.option_count and mine.disorder.name == theirs.disorder.name
            assert mine._state.adding is False and mine._state.db == "default"


def test_rows_follow_their_arguments(db):
    DisorderFactory(code="aaa", name="First")
    DisorderFactory(code="bbb", name="Second")
    prepared = PreparedSelect(_disorder_rows)
    assert prepared.is_prepared()
    assert prepared.run("aaa", "x") == list(_disorder_rows("aaa", "x"))
    assert [row[1:] for row in prepared.run("bbb", "x")] == [("bbb", "Second")]
    assert prepared.run("bbb", "Second") == []  # the second argument is where it belongs


def test_an_update_writes_its_values_and_counts_its_rows(db):
    DisorderFactory(code="aaa", name="First")
    prepared = PreparedUpdate(_renamed)
    assert prepared.is_prepared()
    assert prepared.run("aaa", "Renamed") == 1
    assert prepared.run("nothing", "Renamed") == 0
    assert Disorder.objects.get(code="aaa").name == "Renamed"


def _clock_fixed(question_id: int, at: datetime, rule: str) -> tuple[QuerySet[Question], dict]:
    return Question.objects.filter(pk=question_id), {"clock_started_at": at, "clock_rule": rule}


def test_a_time_argument_is_written_as_django_writes_it(quiz_session):
    question = quiz_session.questions.order_by("sequence").first()
    at = datetime(2030, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    prepared = PreparedUpdate(_clock_fixed)
    assert prepared.is_prepared()  # SQLite too: the time goes in as the text Django would send
    prepared.run(question.pk, at, "client_start")
    question.refresh_from_db()
    assert (question.clock_started_at, question.clock_rule) == (at, "client_start")


def test_a_statement_the_database_layer_rewrites_runs_as_its_queryset(db):
    DisorderFactory(code="abc")
    DisorderFactory(code="xyz")
    prepared = PreparedSelect(_starting_with)
    assert not prepared.is_prepared()
    assert prepared.run("ab") == [("abc",)]
    assert prepared.run("xy") == [("xyz",)]


def test_arguments_must_say_their_type():
    with pytest.raises(TypeError):
        PreparedSelect(lambda code: Disorder.objects.filter(code=code))


def test_the_participants_per_question_statements_are_all_prepared(quiz_session):
    """Each would otherwise be compiled again on every request (survey/prepared.py says what that costs)."""
    statements = [
        auth._SESSION,
        question_writes._UNANSWERED,
        question_writes._UNANSWERED_TO_SHOW,
        question_writes._SERVE,
        question_writes._FIX_CLOCK,
        portrait_writes._IMAGE_DELIVERED,
        portrait_writes._QUESTION_DELIVERED,
        question_writes._OPTION,
        question_reads._IMAGES,
        question_reads._OPTIONS,
        question_reads._EARLIER,
        question_reads._SESSION_PLAN,
        question_reads._ANSWER,
        image_reads._PARTICIPANT_IMAGE,
    ]
    if connection.vendor == "postgresql":  # the database's clock and the session's row lock
        statements += [portrait_writes._IMAGE_DELIVERED_NOW, portrait_writes._QUESTION_DELIVERED_NOW]
    with transaction.atomic():
        if connection.features.has_select_for_update:
            statements.append(auth._SESSION_LOCKED)
        assert [s.build.__name__ for s in statements if not s.is_prepared()] == []


@pytest.mark.postgres
def test_the_locked_session_carries_the_database_clock(quiz_session, settings):
    settings.SURVEY_CLOCK = "database"
    with transaction.atomic():
        session = auth.session_from_authorization(f"Bearer {quiz_session.access_token}", lock=True)
        assert isinstance(session, QuizSession) and session.pk == quiz_session.pk
        assert session.db_now is not None and session.db_now.tzinfo is not None
    settings.SURVEY_CLOCK = "python"  # another variant: compiled on its own, without the clock
    assert not hasattr(auth.session_from_authorization(f"Bearer {quiz_session.access_token}"), "db_now")


def test_an_unknown_token_finds_nothing(db):
    assert auth.session_from_authorization("Bearer no-such-token") is None
