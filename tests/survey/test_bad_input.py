"""No 500 on any input: what a sloppy or hostile participant sends is refused (4xx) or recorded within the
database's limits, never a server error; and participant API responses are never cached."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from survey import services
from survey.api.parsers import MAX_BYTES, MAX_DEPTH
from survey.models import Answer, Outcome
from tests.survey.factories import InviteFactory

T0 = datetime(2031, 3, 1, 9, 0, 0, tzinfo=UTC)  # after the fixtures were made
PROFILE = {"consent": True, "profession": "clinical_geneticist", "years_experience": 5}
DEEP_LIST = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"choice":' * 20_000 + '"a"' + "}" * 20_000  # 220 kB: under the size limit


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def browser(session) -> Client:
    client = Client()
    store = client.session
    store["survey_access_token"] = session.access_token
    store.save()
    return client


def revealed(session, clock):
    """The session's current question, its clock started at T0 and 2 s past (well after any arming delay)."""
    question = services.session_current_question(session=session)
    services.question_clock_start(session=session, question_id=question.pk)
    clock.shift(timedelta(seconds=2))
    return question


def api_participant(session) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session.access_token}")
    return client


# --- the HTML answer form ----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
@pytest.mark.parametrize("choice", ["\x00", "a\x00b", "{code}\x00"])
def test_an_html_answer_with_a_nul_character_is_refused_not_a_server_error(quiz_session, clock, choice, encoding):
    question = revealed(quiz_session, clock)
    form = {"choice": choice.format(code=question.options.first().code)}
    url = reverse("survey:answer", args=[question.pk])
    if encoding == "urlencoded":  # what a browser sends
        response = browser(quiz_session).post(url, urlencode(form), content_type="application/x-www-form-urlencoded")
    else:
        response = browser(quiz_session).post(url, form)
    assert response.status_code < 500
    assert not Answer.objects.filter(question=question).exists()


def test_a_late_html_answer_with_a_10000_character_choice_is_not_a_server_error(quiz_session, clock):
    question = revealed(quiz_session, clock)
    clock.shift(timedelta(milliseconds=question.time_limit_ms + quiz_session.study.grace_ms) + timedelta(minutes=5))
    response = browser(quiz_session).post(reverse("survey:answer", args=[question.pk]), {"choice": "x" * 10_000})
    assert response.status_code < 500
    # Too late, so a timeout whatever it claims; what it claimed is kept only within the field's limit.
    answer = Answer.objects.filter(question=question).first()
    if answer is not None:
        assert answer.outcome == Outcome.TIMEOUT
        assert len(answer.late_choice) <= Answer._meta.get_field("late_choice").max_length


def test_an_api_answer_with_a_nul_character_is_refused_with_400(quiz_session, clock):
    question = revealed(quiz_session, clock)
    response = api_participant(quiz_session).post(
        reverse("api:question-answer", args=[question.pk]), {"choice": f"{question.correct_choice}\x00"}, format="json"
    )
    assert response.status_code == 400
    assert not Answer.objects.filter(question=question).exists()


def test_an_url_with_a_nul_character_is_not_a_server_error(quiz_session, clock):
    question = revealed(quiz_session, clock)
    client = browser(quiz_session)
    for url in ("/i/%00/", "/img/%00", "/i/a%00b/", "/admin/survey/study/?q=%00"):
        assert client.get(url).status_code < 500, url
    assert (
        client.post(reverse("survey:answer", args=[question.pk]) + "?choice=%00", {"choice": "%00"}).status_code < 500
    )


# --- bounded JSON ------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP_LIST, DEEP_OBJECT], ids=["list", "object"])
def test_deeply_nested_json_to_session_start_is_refused_with_400(study, body):
    response = APIClient().post(reverse("api:session-start"), body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.parametrize("body", [DEEP_LIST, DEEP_OBJECT], ids=["list", "object"])
def test_deeply_nested_json_to_an_answer_is_refused_with_400(quiz_session, clock, body):
    question = revealed(quiz_session, clock)
    response = api_participant(quiz_session).post(
        reverse("api:question-answer", args=[question.pk]), body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
    assert not Answer.objects.filter(question=question).exists()


def nested_lists(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def session_start_body(invite, **extra) -> str:
    return json.dumps({"invite": invite.token, **PROFILE, **extra})


def test_nesting_is_counted_outside_strings_only(study):
    # The body's object is one level: a list of MAX_DEPTH - 1 levels in it is at the limit, one more is over.
    at_limit = session_start_body(InviteFactory(study=study), extra=nested_lists(MAX_DEPTH - 1), note="[{" * 1000)
    response = APIClient().post(reverse("api:session-start"), at_limit, content_type="application/json")
    assert response.status_code == 201, response.content
    over = session_start_body(InviteFactory(study=study), extra=nested_lists(MAX_DEPTH))
    response = APIClient().post(reverse("api:session-start"), over, content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]


def test_an_oversized_json_body_is_refused_with_400(study):
    invite = InviteFactory(study=study)
    body = session_start_body(invite, padding="x" * MAX_BYTES)
    response = APIClient().post(reverse("api:session-start"), body, content_type="application/json")
    assert response.status_code == 400
    assert "too large" in response.json()["detail"]
    assert not invite.sessions.exists()


@pytest.mark.parametrize("body", ["{", '{"choice": NaN}', "\xff", '"\\ud800"'])
def test_malformed_json_is_refused_with_400(quiz_session, clock, body):
    question = revealed(quiz_session, clock)
    response = api_participant(quiz_session).post(
        reverse("api:question-answer", args=[question.pk]), body.encode("latin-1"), content_type="application/json"
    )
    assert response.status_code == 400
    assert not Answer.objects.filter(question=question).exists()


def test_the_coordinator_api_refuses_nested_json_with_400(db, admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    for url in (reverse("api:study-list"), reverse("api:disorder-list")):
        response = client.post(url, DEEP_LIST, content_type="application/json")
        assert response.status_code == 400, url
        assert "nested too deeply" in response.json()["detail"]


# --- no-store ----------------------------------------------------------------------------------------


def test_every_participant_api_response_is_no_store(study, clock):
    client = APIClient()
    invite = InviteFactory(study=study)
    responses = [client.post(reverse("api:session-start"), {"invite": invite.token, **PROFILE}, format="json")]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {responses[0].json()['token']}")
    responses += [
        client.get(reverse("api:session")),
        client.post(reverse("api:session-begin")),
        client.get(reverse("api:question")),
    ]
    question = responses[-1].json()
    responses += [
        client.post(reverse("api:question-start", args=[question["id"]])),
        client.get(reverse("api:question")),
        client.post(reverse("api:question-answer", args=[question["id"]]), {"choice": "?"}, format="json"),
        client.post(reverse("api:question-expire", args=[question["id"]])),  # refused: 409
        client.get(reverse("api:scores")),  # refused: 403
        client.post(reverse("api:session-start"), DEEP_LIST, content_type="application/json"),  # 400
        APIClient().get(reverse("api:question")),  # no token
    ]
    statuses = {r.status_code for r in responses}
    assert {200, 201, 400, 409}.issubset(statuses) and statuses & {401, 403}, statuses
    for response in responses:
        assert "no-store" in response["Cache-Control"], (response.status_code, response.get("Cache-Control"))


def test_the_coordinator_api_is_not_marked_by_the_participant_rule(db, admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    response = client.get(reverse("api:study-list"))
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
