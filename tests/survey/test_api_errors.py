"""The API's one exception handler: every refusal of the services has its status and body, and the bodies
are the ones clients have always seen."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from survey import services
from survey.api.errors import FIELD_ERRORS, REFUSALS, exception_handler
from survey.image_bank import ImportRejected
from survey.models import Answer, Outcome
from tests.survey.factories import InviteFactory

T0 = datetime(2031, 3, 1, 9, 0, 0, tzinfo=UTC)


def quiz_errors() -> list[type[services.QuizError]]:
    return [
        kind
        for _, kind in inspect.getmembers(services, inspect.isclass)
        if issubclass(kind, services.QuizError) and kind is not services.QuizError
    ]


@pytest.mark.parametrize("kind", quiz_errors(), ids=lambda kind: kind.__name__)
def test_every_refusal_of_the_services_has_an_answer(kind):
    """A new QuizError needs its status and code here, or it would be a 500."""
    assert kind in REFUSALS or kind in FIELD_ERRORS or kind is services.InvitesRefused


def answer(status_code_and_body):
    response = exception_handler(status_code_and_body, {})
    return response.status_code, response.data


def test_refusals_are_409_with_their_code_and_message():
    assert answer(services.WrongStage("Not now.")) == (409, {"error": "wrong_stage", "message": "Not now."})
    assert answer(services.InviteInUse())[1]["error"] == "invite_in_use"
    assert answer(services.StudyClosed("Closed.")) == (410, {"error": "unavailable", "message": "Closed."})


def test_a_refusal_carries_what_the_client_needs_to_recover():
    assert answer(services.AlreadyAnswered(Answer(outcome=Outcome.SKIPPED))) == (
        409,
        {
            "error": "already_answered",
            "message": "This question was already answered; the first answer stands.",
            "outcome": "skipped",
        },
    )
    assert answer(services.NotExpired(1200))[1] == {
        "error": "not_expired",
        "message": "The time for this question has not run out (1200 ms left).",
        "remaining_ms": 1200,
    }
    assert answer(services.TooEarly(400))[1]["arming_delay_ms"] == 400


def test_field_refusals_are_drf_field_errors():
    assert answer(services.UnknownOption("No such option.")) == (400, {"choice": ["No such option."]})
    assert answer(services.IdentifierNeeded("Who are you?")) == (400, {"participant_id": ["Who are you?"]})
    assert answer(ImportRejected(["manifest.csv line 2: no such disorder"])) == (
        400,
        {"manifest": ["manifest.csv line 2: no such disorder"]},
    )


def test_a_study_not_ready_for_invites_says_what_is_missing():
    assert answer(services.InvitesRefused(["Add portraits."])) == (
        409,
        {"ready": False, "problems": ["Add portraits."]},
    )


def test_anything_else_is_answered_as_drf_answers_it():
    from django.http import Http404

    assert answer(Http404("No such study among yours.")) == (404, {"detail": "No such study among yours."})
    assert exception_handler(ValueError("a bug"), {}) is None  # a server error, not a refusal


def test_an_answer_before_the_question_arms_is_too_early_through_the_api(study):
    study.arming_delay_ms = 400
    study.save()
    client = APIClient()
    with time_machine.travel(T0, tick=False) as clock:
        session = services.session_start(invite=InviteFactory(study=study))
        services.session_profile_submit(session=session, profession="other", years_experience=1)
        services.session_quiz_begin(session=session)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {session.access_token}")
        question = client.get("/api/participant/question/").json()
        client.post(f"/api/participant/questions/{question['id']}/start/")
        clock.shift(timedelta(milliseconds=100))
        response = client.post(
            f"/api/participant/questions/{question['id']}/answer/",
            {"choice": question["options"][0]["code"]},
            format="json",
        )
    assert response.status_code == 409
    assert response.json() == {
        "error": "too_early",
        "arming_delay_ms": 400,
        "message": "The question was not yet accepting answers (it arms 400 ms after it is shown).",
    }
