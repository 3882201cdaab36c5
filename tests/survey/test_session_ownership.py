"""A running session belongs to the browser or client that started it; one person, one attempt; coordinators
can end a session."""

from __future__ import annotations

import pytest
from django.db import IntegrityError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from survey import services
from survey.models import QuizSession
from survey.views import RESUME_CODE_KEY, SESSION_KEY
from tests.survey.factories import InviteFactory


def consent(client: Client, invite, **extra):
    return client.post(reverse("survey:invite", args=[invite.token]), {"agree": "on", **extra})


def test_a_used_single_use_link_in_another_browser_is_refused_not_handed_over(invite):
    owner, stranger = Client(), Client()
    consent(owner, invite)
    session = QuizSession.objects.get(invite=invite)
    page = stranger.get(reverse("survey:invite", args=[invite.token]))
    assert page.status_code == 409 and b"already in use" in page.content
    assert SESSION_KEY not in stranger.session
    assert consent(stranger, invite).status_code == 409  # consenting again does not start or take anything
    assert QuizSession.objects.filter(invite=invite).count() == 1 and session.access_token not in str(
        stranger.session.items()
    )


def test_the_browser_that_started_it_comes_back_with_a_new_session_key(invite):
    owner = Client()
    consent(owner, invite)
    key = owner.session.session_key
    back = owner.get(reverse("survey:invite", args=[invite.token]))
    assert back.status_code == 302 and owner.session.session_key != key
    assert owner.session[SESSION_KEY] == QuizSession.objects.get(invite=invite).access_token


def test_a_planted_session_cookie_is_cycled_on_entry(invite):
    attacker = Client()
    attacker.get(reverse("survey:invite", args=[invite.token]))
    planted = attacker.cookies["sessionid"].value if "sessionid" in attacker.cookies else None
    victim = Client()
    if planted:
        victim.cookies["sessionid"] = planted
    consent(victim, invite)
    assert victim.session.session_key != planted


def test_the_resume_code_moves_the_session_once_and_locks_out_the_first_browser(invite):
    first, second = Client(), Client()
    consent(first, invite)
    code = first.session[RESUME_CODE_KEY]
    wrong = second.post(reverse("survey:invite", args=[invite.token]), {"code": "0000-0000-0000"})
    assert wrong.status_code == 409 and SESSION_KEY not in second.session
    moved = second.post(reverse("survey:invite", args=[invite.token]), {"code": code.lower()})
    assert moved.status_code == 302
    session = QuizSession.objects.get(invite=invite)
    assert second.session[SESSION_KEY] == session.access_token
    assert first.get(reverse("survey:quiz")).status_code == 404  # the old browser's token no longer works
    third = Client()
    assert third.post(reverse("survey:invite", args=[invite.token]), {"code": code}).status_code == 409


def test_a_reusable_link_asks_for_an_identifier_and_refuses_a_second_attempt(study):
    invite = InviteFactory(study=study, reusable=True)
    page = Client().get(reverse("survey:invite", args=[invite.token]))
    assert b"participant identifier" in page.content
    assert consent(Client(), invite).status_code == 200  # no identifier: the form asks again
    assert consent(Client(), invite, **{"who-participant_id": "Ada@Example.org"}).status_code == 302
    again = consent(Client(), invite, **{"who-participant_id": "  ada@example.ORG "})
    assert again.status_code == 410 and b"already taken part" in again.content
    assert QuizSession.objects.filter(study=study).count() == 1
    stored = QuizSession.objects.get(study=study).participant_key
    assert stored and "ada" not in stored  # only a keyed hash


def test_the_api_needs_the_identifier_on_a_reusable_link_too(study):
    invite = InviteFactory(study=study, reusable=True)
    body = {"invite": invite.token, "consent": True, "profession": "other", "years_experience": 1}
    assert APIClient().post("/api/participant/sessions/", body, format="json").status_code == 400
    body["participant_id"] = "expert-17"
    assert APIClient().post("/api/participant/sessions/", body, format="json").status_code == 201
    assert APIClient().post("/api/participant/sessions/", body, format="json").status_code == 409


def test_the_database_refuses_two_sessions_of_one_person(study):
    now = timezone.now()
    QuizSession.objects.create(study=study, consented_at=now, started_at=now, participant_key="k")
    with pytest.raises(IntegrityError):
        QuizSession.objects.create(study=study, consented_at=now, started_at=now, participant_key="k")


def test_a_coordinator_ends_a_running_session(quiz_session, admin_client):
    question = services.session_current_question(session=quiz_session)
    services.question_clock_start(session=quiz_session, question_id=question.pk)
    response = admin_client.post(
        f"/api/studies/{quiz_session.study.slug}/participants/{quiz_session.pseudonym}/end/",
        {"reason": "link forwarded"},
        content_type="application/json",
    )
    assert response.status_code == 200
    quiz_session.refresh_from_db()
    assert quiz_session.stage == "finished" and quiz_session.end_reason == "link forwarded"
    with pytest.raises(services.SessionEnded):
        services.answer_submit(session=quiz_session, question_id=question.pk, choice=None)
    assert services.session_current_question(session=quiz_session) is None
    browser = Client()
    browser_session = browser.session
    browser_session[SESSION_KEY] = quiz_session.access_token
    browser_session.save()
    assert b"coordinator has ended this session" in browser.get(reverse("survey:quiz")).content


def test_revoking_a_link_can_end_its_sessions(quiz_session, admin_client):
    invite = quiz_session.invite
    response = admin_client.post(
        f"/api/studies/{invite.study.slug}/invites/{invite.pk}/revoke/",
        {"end_sessions": True},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["revoked_at"]
    quiz_session.refresh_from_db()
    assert quiz_session.ended_at is not None


def test_revoking_alone_lets_a_running_session_finish(quiz_session):
    services.invite_revoke(invite=quiz_session.invite)
    quiz_session.refresh_from_db()
    assert quiz_session.ended_at is None and services.session_current_question(session=quiz_session) is not None


def test_the_admin_action_ends_sessions(quiz_session, admin_client):
    response = admin_client.post(
        reverse("admin:survey_quizsession_changelist"),
        {"action": "end_sessions", "_selected_action": [quiz_session.pk]},
    )
    assert response.status_code == 302
    quiz_session.refresh_from_db()
    assert quiz_session.ended_at is not None
