"""What the platform protects and how: each protection fails a test when it is removed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from survey import services
from survey.models import Invite, ShownImage
from tests.survey.factories import InviteFactory

ROOT = Path(__file__).resolve().parents[2]


def test_invite_and_image_tokens_carry_at_least_128_bits(quiz_session):
    invites = [Invite.objects.create(study=quiz_session.study) for _ in range(20)]
    for token in (
        [i.token for i in invites]
        + list(ShownImage.objects.values_list("token", flat=True)[:50])
        + [quiz_session.access_token]
    ):
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token) and len(token) * 6 >= 128
    assert len({i.token for i in invites}) == 20


def started_client(study) -> tuple[Client, object]:
    client = Client(enforce_csrf_checks=True)
    invite = InviteFactory(study=study)
    session = services.session_start(invite=invite)
    services.session_profile_submit(session=session, profession="other", years_experience=2)
    services.session_quiz_begin(session=session)
    question = services.session_current_question(session=session)
    store = client.session
    store["survey_access_token"] = session.access_token
    store.save()
    return client, question


def test_every_form_of_the_participant_flow_needs_a_csrf_token(study):
    client, question = started_client(study)
    invite = InviteFactory(study=study)
    posts = [
        (reverse("survey:invite", args=[invite.token]), {"agree": "on"}),
        (reverse("survey:profile"), {"profession": "other", "years_experience": "1"}),
        (reverse("survey:begin"), {}),
        (reverse("survey:clock-start", args=[question.pk]), {}),
        (reverse("survey:answer", args=[question.pk]), {"choice": question.correct_choice}),
        (reverse("survey:expire", args=[question.pk]), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert not question.session.questions.filter(answer__isnull=False).exists()


def test_the_invite_page_is_rate_limited(study, settings):
    settings.SURVEY_INVITE_RATE = "3/minute"
    client = Client(REMOTE_ADDR="203.0.113.7")
    statuses = [client.get(reverse("survey:invite", args=[f"guess-{i}"])).status_code for i in range(5)]
    assert statuses == [404, 404, 404, 429, 429]
    assert Client(REMOTE_ADDR="203.0.113.8").get(reverse("survey:invite", args=["guess"])).status_code == 404


def test_the_session_start_api_is_rate_limited(study, settings):
    settings.SURVEY_INVITE_RATE = "2/minute"
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    statuses = [
        client.post("/api/participant/sessions/", {"invite": f"guess-{i}"}, format="json").status_code for i in range(4)
    ]
    assert statuses[:2] == [400, 400] and statuses[2:] == [429, 429]


def test_participant_pages_forbid_inline_and_foreign_scripts(study):
    client, _ = started_client(study)
    page = client.get(reverse("survey:quiz"))
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    html = page.content.decode()
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert inline == []  # the page works under its own CSP


def test_no_question_page_or_api_reveals_correctness_before_the_end(study):
    client, question = started_client(study)
    html = client.get(reverse("survey:quiz")).content.decode()
    assert "correct" not in html.lower()
    assert f'value="{question.correct_choice}"' in html  # it is one option among others, unmarked
    marked = re.findall(r'<button[^>]*value="([^"]+)"[^>]*>', html)
    attributes = {re.sub(r'value="[^"]+"', "", b) for b in re.findall(r'<button[^>]*name="choice"[^>]*>', html)}
    assert len(marked) >= 2 and len(attributes) == 1


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    # The test settings relax these in this process's environment; production leaves them unset.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SURVEY_", "DATABASE_URL"))}
    env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "k" * 20 + "-Very-long-random-production-secret-0123456789-abcdefgh",
        "DJANGO_ALLOWED_HOSTS": "survey.example.org",
        "SURVEY_VAR_DIR": str(tmp_path),
        "SURVEY_ALLOW_SQLITE": "1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SURVEY_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "SURVEY_VAR_DIR": str(tmp_path)})
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY is not set" in result.stderr


def test_the_container_runs_as_a_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.M)
    assert users and users[-1] not in {"root", "0"}
    assert "torch" not in dockerfile.lower().replace("no torch", "")


def test_admin_logins_are_throttled_after_repeated_failures(db, client):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("coord", password="right-horse-battery", is_staff=True)
    for _ in range(4):
        failed = client.post("/admin/login/?next=/admin/", {"username": "coord", "password": "wrong"})
        assert failed.status_code == 200  # the form again, with its error
    assert client.post("/admin/login/?next=/admin/", {"username": "coord", "password": "wrong"}).status_code == 429
    locked = client.post("/admin/login/?next=/admin/", {"username": "coord", "password": "right-horse-battery"})
    assert locked.status_code == 429 and "_auth_user_id" not in client.session


def test_a_successful_admin_login_resets_the_count(db, client):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("coord", password="right-horse-battery", is_staff=True)
    for _ in range(4):
        client.post("/admin/login/?next=/admin/", {"username": "coord", "password": "wrong"})
    assert (
        client.post("/admin/login/?next=/admin/", {"username": "coord", "password": "right-horse-battery"}).status_code
        == 302
    )
