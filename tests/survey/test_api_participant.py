"""The participant API drives the same quiz as the HTML flow, through the same services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from survey.models import Answer, Outcome, QuizSession
from tests.survey.factories import InviteFactory

PROFILE = {"consent": True, "profession": "clinical_geneticist", "years_experience": 5}


def start(study, **invite_fields) -> tuple[APIClient, dict]:
    invite = InviteFactory(study=study, **invite_fields)
    client = APIClient()
    response = client.post("/api/participant/sessions/", {"invite": invite.token, **PROFILE}, format="json")
    assert response.status_code == 201, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    return client, response.json()


def begun(study) -> APIClient:
    client, _ = start(study)
    assert client.post("/api/participant/session/begin/").status_code == 200
    return client


def test_a_client_drives_a_full_session_through_the_api(study, time_machine):
    study.with_practice, study.arming_delay_ms = True, 400
    study.save()
    time_machine.move_to(timezone.now(), tick=False)
    client, body = start(study)
    assert body["stage"] == "practice" and body["resume_code"]
    client.post("/api/participant/session/begin/")
    outcomes, intros, practice = [], [], 0
    while (response := client.get("/api/participant/question/")).status_code == 200:
        question = response.json()
        if question["intro"]:
            intros.append((question["intro"]["category"], question["intro"]["is_practice"]))
        client.post(f"/api/participant/questions/{question['id']}/start/")
        time_machine.shift(timedelta(seconds=1))  # past the arming delay
        if question["practice"]:
            practice += 1
            result = client.post(f"/api/participant/questions/{question['id']}/skip/")
        elif question["position"] % 7 == 0:
            result = client.post(f"/api/participant/questions/{question['id']}/skip/")
        else:
            result = client.post(
                f"/api/participant/questions/{question['id']}/answer/",
                {"choice": question["options"][0]["code"]},
                format="json",
            )
        assert result.status_code == 200
        outcomes.append(result.json()["outcome"])
    assert response.status_code == 204
    assert practice == 3 and len(outcomes) == 33 and outcomes.count("skipped") == 4 + 3
    # Each category is introduced twice: before its practice question and before its timed questions.
    assert sorted(intros) == sorted(
        (c, p) for c in ("real_vs_synthetic", "reidentification", "diagnosis") for p in (True, False)
    )
    session = QuizSession.objects.get(pseudonym=body["participant"])
    assert session.stage == QuizSession.Stage.FINISHED
    assert session.profession == "clinical_geneticist"


def test_a_question_carries_no_kind_correctness_or_file_name(study):
    client = begun(study)
    for _ in range(30):
        question = client.get("/api/participant/question/").json()
        assert set(question) == {
            "id",
            "practice",
            "position",
            "total",
            "category",
            "prompt",
            "stimulus_urls",
            "options",
            "time_limit_ms",
            "load_allowance_ms",
            "clock_running",
            "remaining_ms",
            "latest_remaining_ms",
            "arming_delay_ms",
            "category_label",
            "intro",
        }
        # The category and its prompt name the concepts by design; what identifies portraits must not.
        portraits = str(question["stimulus_urls"]) + str(question["options"])
        for word in ("real", "synthetic", "latent", "average", "correct", "hash", ".jpg", ".png", "training"):
            assert word not in portraits.lower()
        assert all(set(option) == {"slot", "code", "label", "image_url"} for option in question["options"])
        client.post(f"/api/participant/questions/{question['id']}/skip/")


def test_an_answer_response_does_not_reveal_correctness(study):
    client = begun(study)
    question = client.get("/api/participant/question/").json()
    result = client.post(
        f"/api/participant/questions/{question['id']}/answer/",
        {"choice": question["options"][0]["code"]},
        format="json",
    ).json()
    assert result == {"outcome": "answered"}


def test_a_second_answer_is_refused_with_the_first_outcome(study):
    client = begun(study)
    question = client.get("/api/participant/question/").json()
    client.post(f"/api/participant/questions/{question['id']}/skip/")
    again = client.post(
        f"/api/participant/questions/{question['id']}/answer/",
        {"choice": question["options"][0]["code"]},
        format="json",
    )
    assert again.status_code == 409
    assert again.json()["error"] == "already_answered" and again.json()["outcome"] == "skipped"


def test_an_unknown_option_is_a_field_error_and_changes_nothing(study):
    client = begun(study)
    question = client.get("/api/participant/question/").json()
    response = client.post(f"/api/participant/questions/{question['id']}/answer/", {"choice": "nope"}, format="json")
    assert response.status_code == 400 and "choice" in response.json()
    assert not Answer.objects.exists()


def test_malformed_json_is_a_400(study):
    client = begun(study)
    question = client.get("/api/participant/question/").json()
    response = client.post(
        f"/api/participant/questions/{question['id']}/answer/", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert not Answer.objects.exists()


def test_another_participants_question_is_refused(study):
    mine, theirs = begun(study), begun(study)
    their_question = theirs.get("/api/participant/question/").json()
    mine.get("/api/participant/question/")
    response = mine.post(
        f"/api/participant/questions/{their_question['id']}/answer/",
        {"choice": their_question["options"][0]["code"]},
        format="json",
    )
    assert response.status_code == 409 and response.json()["error"] == "not_current"
    assert not Answer.objects.exists()


def test_a_participant_can_fetch_own_images_with_the_token_only(study, image_bank_root):
    from survey.imaging import stored_path

    for content_hash in study.portraits.values_list("content_hash", flat=True):
        path = stored_path(image_bank_root, content_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8 stand-in bytes")
    client = begun(study)
    question = client.get("/api/participant/question/").json()
    url = question["options"][0]["image_url"] or question["stimulus_urls"][0]
    assert client.get(url).status_code == 200
    assert APIClient().get(url).status_code == 404  # no token, no image
    assert begun(study).get(url).status_code == 404  # another participant's token, no image


@pytest.mark.parametrize(
    "change",
    [{"revoked_at": timezone.now() - timedelta(seconds=1)}, {"expires_at": timezone.now() - timedelta(seconds=1)}],
)
def test_a_revoked_or_expired_invite_is_gone(study, change):
    invite = InviteFactory(study=study, **change)
    response = APIClient().post("/api/participant/sessions/", {"invite": invite.token, **PROFILE}, format="json")
    assert response.status_code == 410 and not QuizSession.objects.exists()


def test_an_unknown_invite_is_not_found(study):
    response = APIClient().post("/api/participant/sessions/", {"invite": "x" * 32, **PROFILE}, format="json")
    assert response.status_code == 404


def test_consent_is_required(study):
    invite = InviteFactory(study=study)
    response = APIClient().post(
        "/api/participant/sessions/", {"invite": invite.token, **PROFILE, "consent": False}, format="json"
    )
    assert response.status_code == 400 and "consent" in response.json()


def test_a_used_single_use_invite_resumes_only_for_the_client_holding_its_token(study):
    invite = InviteFactory(study=study)
    first = APIClient().post("/api/participant/sessions/", {"invite": invite.token, **PROFILE}, format="json")
    stranger = APIClient().post("/api/participant/sessions/", {"invite": invite.token, **PROFILE}, format="json")
    assert (first.status_code, stranger.status_code) == (201, 409)
    assert stranger.json()["error"] == "invite_in_use" and "token" not in stranger.json()
    owner = APIClient()
    owner.credentials(HTTP_AUTHORIZATION=f"Bearer {first.json()['token']}")
    again = owner.post("/api/participant/sessions/", {"invite": invite.token, **PROFILE}, format="json")
    assert again.status_code == 200 and again.json()["token"] == first.json()["token"]


def test_a_resume_code_moves_the_session_and_locks_out_the_old_client(study):
    invite = InviteFactory(study=study)
    first = APIClient().post("/api/participant/sessions/", {"invite": invite.token, **PROFILE}, format="json").json()
    wrong = APIClient().post(
        "/api/participant/sessions/",
        {"invite": invite.token, "resume_code": "0000-0000-0000", **PROFILE},
        format="json",
    )
    assert wrong.status_code == 409 and "token" not in wrong.json()
    moved = APIClient().post(
        "/api/participant/sessions/",
        {"invite": invite.token, "resume_code": first["resume_code"], **PROFILE},
        format="json",
    )
    assert moved.status_code == 200 and moved.json()["participant"] == first["participant"]
    assert moved.json()["token"] != first["token"] and moved.json()["resume_code"] != first["resume_code"]
    old = APIClient()
    old.credentials(HTTP_AUTHORIZATION=f"Bearer {first['token']}")
    assert old.get("/api/participant/session/").status_code in (401, 403)
    replay = APIClient().post(
        "/api/participant/sessions/",
        {"invite": invite.token, "resume_code": first["resume_code"], **PROFILE},
        format="json",
    )
    assert replay.status_code == 409  # the code was spent


def test_scores_only_after_the_end_and_if_allowed(study):
    study.show_feedback = True
    study.save()
    client = begun(study)
    assert client.get("/api/participant/session/scores/").status_code == 403
    while (response := client.get("/api/participant/question/")).status_code == 200:
        client.post(f"/api/participant/questions/{response.json()['id']}/skip/")
    scores = client.get("/api/participant/session/scores/").json()
    assert {s["category"] for s in scores} == {"real_vs_synthetic", "reidentification", "diagnosis"}
    assert sum(s["skipped"] for s in scores) == 30


def test_the_page_cannot_expire_a_question_early(study):
    client = begun(study)
    question = client.get("/api/participant/question/").json()
    client.post(f"/api/participant/questions/{question['id']}/start/")
    response = client.post(f"/api/participant/questions/{question['id']}/expire/")
    assert response.status_code == 409 and response.json()["error"] == "not_expired"
    assert response.json()["remaining_ms"] > 0
    assert not Answer.objects.filter(outcome=Outcome.TIMEOUT).exists()


def test_a_bad_token_is_refused(study):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert client.get("/api/participant/question/").status_code in (401, 403)
