"""A coordinator of one study sees and touches nothing of another: in the admin, on the staff pages (image
bank, dashboard, item view, pool fill, exports and their jobs) and in the coordinator API."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from survey import services
from survey.models import Answer, Invite, Job, Portrait, QuizSession, Study
from tests.survey.factories import InviteFactory, StudyFactory, make_bank


def coordinator_of(study: Study, name: str) -> Client:
    """A staff member with every permission on the survey's models, listed as the study's coordinator."""
    user = get_user_model().objects.create_user(name, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="survey"))
    study.coordinators.add(user)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def two_studies(disorders):
    mine, theirs = StudyFactory(slug="mine"), StudyFactory(slug="theirs")
    for study in (mine, theirs):
        study.disorders.set(disorders)
        make_bank(study, disorders)
        session = services.session_start(invite=InviteFactory(study=study, label=f"{study.slug} expert"))
        services.session_profile_submit(session=session, profession="other", years_experience=1)
        services.session_quiz_begin(session=session)
        question = services.session_current_question(session=session)
        services.answer_submit(session=session, question_id=question.pk, choice=None)
    return mine, theirs


CHANGELISTS = ["study", "portrait", "invite", "quizsession", "answer"]


@pytest.mark.parametrize("model", CHANGELISTS)
def test_a_coordinator_lists_only_their_studys_rows(two_studies, model):
    mine, theirs = two_studies
    me = coordinator_of(mine, "me")
    page = me.get(reverse(f"admin:survey_{model}_changelist"))
    assert page.status_code == 200
    shown = page.context["cl"].queryset
    study_of = {"study": lambda r: r, "answer": lambda r: r.question.session.study}.get(model, lambda r: r.study)
    assert shown.exists() and {study_of(row).slug for row in shown} == {"mine"}


def test_a_coordinator_cannot_open_or_change_another_studys_rows(two_studies):
    mine, theirs = two_studies
    me = coordinator_of(mine, "me")
    their_invite = Invite.objects.filter(study=theirs).first()
    for model, pk in [
        ("study", theirs.pk),
        ("invite", their_invite.pk),
        ("portrait", Portrait.objects.filter(study=theirs).first().pk),
        ("quizsession", QuizSession.objects.get(study=theirs).pk),
    ]:
        response = me.get(reverse(f"admin:survey_{model}_change", args=[pk]))
        assert response.status_code in (302, 404), model  # the admin redirects a missing object to its index
    me.post(reverse("admin:survey_invite_changelist"), {"action": "revoke", "_selected_action": [their_invite.pk]})
    their_invite.refresh_from_db()
    assert their_invite.revoked_at is None


def test_staff_portrait_pages_are_fenced_by_study(two_studies, image_bank_root):
    from survey.imaging import stored_path

    mine, theirs = two_studies
    me = coordinator_of(mine, "me")
    for portrait in Portrait.objects.all():  # every portrait has its file: only the fence can refuse
        path = stored_path(image_bank_root, portrait.content_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8\xff\xd9")
    for study, expected in [(mine, 200), (theirs, 404)]:
        portrait = Portrait.objects.filter(study=study).first()
        assert me.get(reverse("survey:bank-image", args=[portrait.pk])).status_code == expected
        token = QuizSession.objects.get(study=study).shown_images.first().token
        assert me.get(reverse("survey:portrait", args=[token])).status_code == expected


def test_a_superuser_sees_every_study(two_studies, admin_client):
    page = admin_client.get(reverse("admin:survey_answer_changelist"))
    assert {a.question.session.study.slug for a in page.context["cl"].queryset} == {"mine", "theirs"}
    assert Answer.objects.count() == 2


def test_a_new_coordinator_sees_no_study_that_does_not_list_them(disorders):
    me = Client()
    user = get_user_model().objects.create_user("new", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="survey"))
    me.force_login(user)
    assert not Study.objects.exists()
    StudyFactory(slug="other")  # exists, but is not theirs
    page = me.get(reverse("admin:survey_study_changelist"))
    assert not page.context["cl"].queryset.exists()


def test_a_coordinator_downloads_their_invite_links_as_csv(two_studies):
    import csv
    import io

    mine, _ = two_studies
    me = coordinator_of(mine, "me")
    selected = list(Invite.objects.values_list("pk", flat=True))  # theirs too: the fence drops it
    response = me.post(
        reverse("admin:survey_invite_changelist"), {"action": "download_csv", "_selected_action": selected}
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["label"] for r in rows] == ["mine expert"]
    assert rows[0]["link"].endswith(f"/i/{Invite.objects.get(study=mine).token}/")


def their_jobs(theirs: Study) -> tuple[Job, Job]:
    fill = Job.objects.create(
        study=theirs,
        kind=Job.Kind.POOL_FILL,
        state=Job.State.DONE,
        parameters={"checkpoint": "x", "per_disorder": 1},
        report={"lines": ["secret line"]},
    )
    sheet = Job.objects.create(
        study=theirs,
        kind=Job.Kind.EXPORT,
        state=Job.State.DONE,
        parameters={"table": "answers"},
        file_name="theirs-answers.xlsx",
        file_data=b"their answers",
    )
    return fill, sheet


def test_staff_study_pages_and_jobs_are_fenced_by_study(two_studies):
    """Every staff page of another study answers 404, its jobs cannot be seen or downloaded (not even by
    reaching them through one's own study's URL), and nothing can be queued for it."""
    mine, theirs = two_studies
    me = coordinator_of(mine, "me")
    fill, sheet = their_jobs(theirs)
    for name in ["dashboard", "items", "study-portraits", "pool-fill", "exports"]:
        assert me.get(reverse(f"survey:{name}", args=["mine"])).status_code == 200, name
        assert me.get(reverse(f"survey:{name}", args=["theirs"])).status_code == 404, name
    for job in (fill, sheet):
        for slug in ("theirs", "mine"):
            assert me.get(reverse("survey:job", args=[slug, job.pk])).status_code == 404
            assert me.get(reverse("survey:job-download", args=[slug, job.pk])).status_code == 404
    assert me.post(reverse("survey:export-prepare", args=["theirs", "answers"])).status_code == 404
    assert me.post(reverse("survey:pool-fill", args=["theirs"]), {"per_disorder": 1}).status_code == 404
    assert Job.objects.filter(study=theirs).count() == 2  # their dashboard queued no recompute either
    mine_listing = me.get(reverse("survey:exports", args=["mine"])).content.decode()
    assert "theirs-answers.xlsx" not in mine_listing and "secret line" not in mine_listing


def test_the_admin_has_no_job_rows_for_a_coordinator_to_browse(two_studies):
    """Jobs are reached only through their study's fenced pages: the admin does not list them."""
    mine, theirs = two_studies
    their_jobs(theirs)
    assert not any(model is Job for model in admin.site._registry)


def test_the_api_shows_nothing_of_another_study(two_studies):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    mine, theirs = two_studies
    user = get_user_model().objects.create_user("api-me", is_staff=True)
    mine.coordinators.add(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert [s["slug"] for s in client.get("/api/studies/").json()["results"]] == ["mine"]
    for path in [
        "",
        "progress/",
        "readiness/",
        "portraits/",
        "invites/",
        "export/answers.csv",
        "export/options.json",
        "export/settings.json",
    ]:
        assert client.get(f"/api/studies/mine/{path}").status_code == 200, path
        assert client.get(f"/api/studies/theirs/{path}").status_code == 404, path
    assert client.get("/api/studies/theirs/export/participants.xlsx").status_code == 404
    fill, sheet = their_jobs(theirs)
    for path in [f"jobs/{fill.pk}/", f"jobs/{sheet.pk}/", f"jobs/{sheet.pk}/download/"]:
        assert client.get(f"/api/studies/theirs/{path}").status_code == 404, path
        assert client.get(f"/api/studies/mine/{path}").status_code == 404, path  # nor through my own study
    assert client.post("/api/studies/theirs/export/answers.xlsx").status_code == 404
    assert not Job.objects.filter(study=mine).exists() and Job.objects.filter(study=theirs).count() == 2
    pseudonym = QuizSession.objects.get(study=theirs).pseudonym
    invite = Invite.objects.get(study=theirs)
    for path in [
        f"participants/{pseudonym}/end/",
        f"participants/{pseudonym}/erase/",
        f"invites/{invite.pk}/revoke/",
        "invites/",
    ]:
        assert client.post(f"/api/studies/theirs/{path}", {"count": 1}, format="json").status_code == 404, path
    assert client.patch("/api/studies/theirs/", {"title": "taken"}, format="json").status_code == 404
    session = QuizSession.objects.get(study=theirs)
    invite.refresh_from_db()
    theirs.refresh_from_db()
    assert session.ended_at is None and session.erased_at is None and invite.revoked_at is None
    assert theirs.title != "taken" and Invite.objects.filter(study=theirs).count() == 1
