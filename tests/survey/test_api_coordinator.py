"""The coordinator API: staff tokens, per-study permission, upload with import's validation, invites."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from survey.models import Invite, Portrait, Study
from tests.survey.factories import StudyFactory, make_bank


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("coord", is_staff=True)


@pytest.fixture
def coordinator(staff):
    return client_for(staff)


@pytest.fixture
def own_study(staff, disorders):
    study = StudyFactory(slug="mine", disorders=disorders)
    study.coordinators.add(staff)
    return study


def png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (50, 50, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def upload(client, slug, manifest: str, files: dict[str, bytes]):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {
        "manifest": SimpleUploadedFile("manifest.csv", manifest.encode()),
        "files": [SimpleUploadedFile(name, body) for name, body in files.items()],
    }
    return client.post(f"/api/studies/{slug}/portraits/", data, format="multipart")


def test_a_coordinator_creates_a_study_and_it_is_theirs(coordinator, staff, disorders):
    response = coordinator.post(
        "/api/studies/",
        {"slug": "pilot", "title": "Pilot", "consent_text": "Agree?", "disorders": [d.code for d in disorders[:4]]},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert Study.objects.get(slug="pilot").coordinators.filter(pk=staff.pk).exists()
    assert [s["slug"] for s in coordinator.get("/api/studies/").json()["results"]] == ["pilot"]


def test_an_unknown_disorder_is_a_field_error(coordinator):
    response = coordinator.post(
        "/api/studies/", {"slug": "x", "title": "X", "consent_text": "c", "disorders": ["nosuch"]}, format="json"
    )
    assert response.status_code == 400 and "disorders" in response.json()


def test_another_coordinators_study_is_invisible(coordinator, disorders):
    StudyFactory(slug="theirs", disorders=disorders)
    assert coordinator.get("/api/studies/theirs/").status_code == 404
    assert coordinator.get("/api/studies/theirs/invites/").status_code == 404
    assert coordinator.post("/api/studies/theirs/invites/", {"count": 2}, format="json").status_code == 404
    assert coordinator.get("/api/studies/theirs/export/answers.csv").status_code == 404
    assert not Invite.objects.exists()


@pytest.mark.parametrize("who", ["anonymous", "not_staff"])
def test_coordinator_endpoints_need_a_staff_token(who, own_study, db):
    client = APIClient()
    if who == "not_staff":
        client = client_for(get_user_model().objects.create_user("expert"))
    for url in ("/api/studies/", "/api/studies/mine/invites/", "/api/studies/mine/export/answers.csv"):
        assert client.get(url).status_code in (401, 403)


def test_upload_validates_like_import_images(coordinator, own_study, image_bank_root):
    ok = upload(
        coordinator,
        "mine",
        "filename,disorder,kind,used_in_training\na.png,phx0,real,1\nb.png,phx1,synthetic,\n",
        {"a.png": png(1), "b.png": png(2)},
    )
    assert ok.status_code == 201 and ok.json() == {"imported": 2}
    bad = upload(
        coordinator,
        "mine",
        "filename,disorder,kind,used_in_training\nc.png,phx0,real,1\nd.png,nosuch,real,0\n",
        {"c.png": png(3), "d.png": png(4)},
    )
    assert bad.status_code == 400
    assert any("line 3 (d.png)" in problem for problem in bad.json()["manifest"])
    assert Portrait.objects.count() == 2  # nothing of the bad upload was imported
    listed = coordinator.get("/api/studies/mine/portraits/").json()["results"]
    assert {p["kind"] for p in listed} == {"real", "synthetic"} and all(len(p["content_hash"]) == 64 for p in listed)


@pytest.fixture
def ready_study(own_study, disorders):
    make_bank(own_study, disorders)
    return own_study


def test_readiness_lists_what_is_missing_and_invites_wait_for_it(coordinator, own_study, disorders):
    unready = coordinator.get("/api/studies/mine/readiness/").json()
    assert unready["ready"] is False and "phx0" in unready["problems"][0]
    refused = coordinator.post("/api/studies/mine/invites/", {"count": 2}, format="json")
    assert refused.status_code == 409 and refused.json()["problems"] == unready["problems"]
    assert not Invite.objects.exists()
    make_bank(own_study, disorders)
    assert coordinator.get("/api/studies/mine/readiness/").json() == {"ready": True, "problems": []}
    assert coordinator.post("/api/studies/mine/invites/", {"count": 2}, format="json").status_code == 201


def test_the_admin_issues_no_invites_for_a_study_that_is_not_ready(admin_client, own_study):
    admin_client.post(
        "/admin/survey/study/",
        {"action": "issue_invites", "apply": "1", "count": 5, "_selected_action": [own_study.pk]},
    )
    assert not Invite.objects.exists()


def test_invites_are_created_listed_and_revoked(coordinator, ready_study):
    created = coordinator.post("/api/studies/mine/invites/", {"count": 3, "label": "cohort A"}, format="json")
    assert created.status_code == 201 and len(created.json()) == 3
    assert all(len(i["token"]) >= 22 and i["link"].endswith(f"/i/{i['token']}/") for i in created.json())
    invite_id = created.json()[0]["id"]
    revoked = coordinator.post(f"/api/studies/mine/invites/{invite_id}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert coordinator.get("/api/studies/mine/invites/").json()["count"] == 3


@pytest.mark.parametrize(
    "body",
    [
        {"count": 0},
        {"count": 100000},
        {"count": "many"},
        {"expires_at": "2001-01-01T00:00:00Z"},
        {"expires_at": "yesterday"},
    ],
)
def test_bad_invite_requests_are_field_errors(coordinator, ready_study, body):
    response = coordinator.post("/api/studies/mine/invites/", body, format="json")
    assert response.status_code == 400 and set(response.json()) & set(body)
    assert not Invite.objects.exists()


def test_progress_and_exports(coordinator, own_study):
    assert coordinator.get("/api/studies/mine/progress/").json()["sessions_started"] == 0
    csv = coordinator.get("/api/studies/mine/export/answers.csv")
    assert csv.status_code == 200 and csv.streaming  # streamed: the request never holds the whole study
    assert b"".join(csv.streaming_content).decode().startswith("study,participant,session,category")
    assert coordinator.get("/api/studies/mine/export/settings.json").json()["study"]["slug"] == "mine"
    assert coordinator.get("/api/studies/mine/export/settings.csv").status_code == 400


def test_the_schema_and_docs_are_served(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"openapi" in schema.content
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/api/studies/",
        "/api/studies/mine/",
        "/api/studies/mine/readiness/",
        "/api/studies/mine/progress/",
        "/api/studies/mine/invites/",
        "/api/studies/mine/portraits/",
        "/api/disorders/",
        "/api/studies/mine/invites/1/revoke/",
        "/api/studies/mine/participants/P0/end/",
    ],
)
def test_the_browsable_api_pages_open_for_a_signed_in_coordinator(client, staff, ready_study, url):
    client.force_login(staff)
    assert client.get(url, HTTP_ACCEPT="text/html").status_code in (200, 404, 405)


def test_a_spreadsheet_is_a_job_the_api_queues_and_follows(coordinator, own_study, django_capture_on_commit_callbacks):
    """No request builds a spreadsheet: GET explains, POST queues a job, the job's URL is polled, its
    download link appears once the worker has built the file."""
    from openpyxl import load_workbook

    from survey import tasks
    from survey.models import Job

    refused = coordinator.get("/api/studies/mine/export/answers.xlsx")
    assert refused.status_code == 405 and refused["Allow"] == "POST" and refused.json()["error"] == "use_post"
    assert not Job.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        queued = coordinator.post("/api/studies/mine/export/participants.xlsx")
    assert queued.status_code == 202, queued.content
    job = Job.objects.get(kind=Job.Kind.EXPORT)
    body = queued.json()
    assert body["state"] == "queued" and body["download"] is None and job.parameters == {"table": "participants"}
    assert queued["Location"] == body["url"] and body["url"].endswith(f"/api/studies/mine/jobs/{job.pk}/")
    early = coordinator.get(f"/api/studies/mine/jobs/{job.pk}/download/")
    assert early.status_code == 409 and early.json()["error"] == "not_ready"
    tasks.build_export.call(job.pk)
    done = coordinator.get(body["url"]).json()
    assert done["state"] == "done" and done["percent"] == 100
    download = coordinator.get(done["download"])
    assert download.status_code == 200 and 'filename="mine-participants.xlsx"' in download["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(download.content))["participants"]
    assert [c.value for c in sheet[1]][:2] == ["participant", "session"]


@pytest.mark.parametrize("path", ["answers.csv", "settings.json", "settings.xlsx", "bogus.xlsx"])
def test_only_spreadsheets_are_queued(coordinator, own_study, path):
    from survey.models import Job

    assert coordinator.post(f"/api/studies/mine/export/{path}").status_code in (400, 404)
    assert not Job.objects.exists()
