"""The coordinator's admin and staff pages: the clock in seconds, issuing invites from an intermediate page
with the full links and copy buttons, and the dashboard's item view (per portrait, fenced per study)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from survey import services
from survey.admin import invite_link
from survey.dashboard import item_view
from survey.models import Invite, Portrait, Study
from tests.survey.factories import StudyFactory, make_bank
from tests.survey.test_admin_fence import coordinator_of

# --- the clock in seconds -------------------------------------------------------------------------------


def study_form(disorders, **clock) -> dict:
    data = {
        "title": "Seconds study",
        "slug": "seconds",
        "is_open": "on",
        "disorders": [d.pk for d in disorders[:4]],
        "consent_text": "You agree.",
        "instructions": "",
        "expected_sessions": 60,
        "require_participant_id": "on",
        "n_real_vs_synthetic": 10,
        "n_reidentification": 10,
        "n_diagnosis": 10,
        "with_practice": "on",
        "n_synthetic_in_real_vs_synthetic": 3,
        "n_candidates_in_reidentification": 3,
        "n_options_in_diagnosis": 4,
        "time_limit_real_vs_synthetic_s": "30",
        "time_limit_reidentification_s": "25",
        "time_limit_diagnosis_s": "12.5",
        "grace_s": "2",
        "load_allowance_s": "10",
        "transfer_allowance_s": "1",
        "arming_delay_s": "0.4",
    }
    return {**data, **clock}


def test_the_add_form_asks_for_seconds_and_stores_milliseconds(admin_client, disorders):
    page = admin_client.get(reverse("admin:survey_study_add"))
    html = page.content.decode()
    assert "Time limit, diagnosis (seconds)" in html and 'name="time_limit_diagnosis_s"' in html
    assert 'name="time_limit_diagnosis_ms"' not in html
    assert str(page.context["adminform"].form.initial["arming_delay_s"]) == "0.4"  # the model's 400 ms default
    assert 'name="arming_delay_s" value="0.4"' in html
    response = admin_client.post(reverse("admin:survey_study_add"), study_form(disorders))
    assert response.status_code == 302, response.context["adminform"].form.errors
    study = Study.objects.get(slug="seconds")
    assert (
        study.time_limit_real_vs_synthetic_ms,
        study.time_limit_reidentification_ms,
        study.time_limit_diagnosis_ms,
    ) == (30_000, 25_000, 12_500)
    assert (study.grace_ms, study.load_allowance_ms, study.transfer_allowance_ms, study.arming_delay_ms) == (
        2_000,
        10_000,
        1_000,
        400,
    )


def test_the_change_form_shows_the_stored_milliseconds_as_seconds(admin_client, disorders):
    study = StudyFactory(
        slug="seconds", disorders=disorders[:4], arming_delay_ms=250, grace_ms=1_500, time_limit_diagnosis_ms=15_000
    )
    url = reverse("admin:survey_study_change", args=[study.pk])
    html = admin_client.get(url).content.decode()
    assert 'name="arming_delay_s" value="0.25"' in html and 'name="grace_s" value="1.5"' in html
    assert 'name="time_limit_diagnosis_s" value="15"' in html
    response = admin_client.post(url, study_form(disorders, arming_delay_s="0", time_limit_diagnosis_s="20"))
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.arming_delay_ms == 0 and study.time_limit_diagnosis_ms == 20_000


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_limit_diagnosis_s", "0.5", "At least 1 seconds."),
        ("transfer_allowance_s", "6", "At most 5 seconds."),
        ("arming_delay_s", "2.5", "At most 2 seconds."),
        ("arming_delay_s", "0.0004", "At most 3 decimals"),
        ("grace_s", "-1", "At least 0 seconds."),
    ],
)
def test_the_form_refuses_out_of_range_seconds_in_seconds(admin_client, disorders, field, value, message):
    response = admin_client.post(reverse("admin:survey_study_add"), study_form(disorders, **{field: value}))
    assert response.status_code == 200 and not Study.objects.exists()
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field] and message in errors[field][0]
    assert "ms" not in errors[field][0] and "1000" not in errors[field][0]


# --- issuing invites ------------------------------------------------------------------------------------


def issue(client, study, **values):
    data = {"action": "issue_invites", "_selected_action": [study.pk], **values}
    return client.post(reverse("admin:survey_study_changelist"), data)


def test_issuing_invites_asks_how_many_first(admin_client, study):
    page = issue(admin_client, study)
    assert page.status_code == 200 and b"How many links" in page.content
    assert b'name="apply"' in page.content and str(study.pk).encode() in page.content
    assert not Invite.objects.exists()


def test_the_chosen_number_of_invites_is_issued_with_label_kind_and_expiry(admin_client, study):
    expiry = (timezone.localtime() + timedelta(days=30)).replace(second=0, microsecond=0)
    response = issue(
        admin_client,
        study,
        apply="1",
        count=12,
        label_prefix="Ward A",
        reusable="on",
        expires_at=expiry.strftime("%Y-%m-%dT%H:%M"),
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:survey_invite_changelist") + f"?study__id__exact={study.pk}"
    invites = Invite.objects.filter(study=study).order_by("label")
    assert invites.count() == 12
    assert [i.label for i in invites][:2] == ["Ward A 01", "Ward A 02"] and invites.last().label == "Ward A 12"
    assert all(i.reusable and i.expires_at == expiry for i in invites)


def test_single_use_links_without_a_label_or_expiry(admin_client, study):
    issue(admin_client, study, apply="1", count=5, label_prefix="", expires_at="")
    invites = Invite.objects.filter(study=study)
    assert invites.count() == 5 and not any(i.reusable or i.label or i.expires_at for i in invites)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"count": 0}, "count"),
        ({"count": 1001}, "count"),
        ({"count": 3, "expires_at": "2001-01-01T00:00"}, "expires_at"),
    ],
)
def test_invalid_invite_requests_issue_nothing(admin_client, study, values, field):
    page = issue(admin_client, study, apply="1", **values)
    assert page.status_code == 200 and field in page.context["form"].errors
    assert not Invite.objects.exists()


def test_a_study_that_is_not_ready_gets_no_invites(admin_client, disorders):
    unready = StudyFactory(disorders=disorders[:2])
    response = issue(admin_client, unready, apply="1", count=5)
    assert response.status_code == 302 and not Invite.objects.exists()


def test_a_coordinator_issues_invites_only_for_their_own_study(disorders):
    mine, theirs = StudyFactory(slug="mine", disorders=disorders), StudyFactory(slug="theirs", disorders=disorders)
    for s in (mine, theirs):
        make_bank(s, disorders)
    me = coordinator_of(mine, "me")
    me.post(
        reverse("admin:survey_study_changelist"),
        {"action": "issue_invites", "_selected_action": [mine.pk, theirs.pk], "apply": "1", "count": 2},
    )
    assert Invite.objects.filter(study=mine).count() == 2 and not Invite.objects.filter(study=theirs).exists()


def test_the_invite_list_shows_the_full_link_with_a_copy_button_from_a_static_script(admin_client, study):
    services.invites_issue(study=study, count=2)
    html = admin_client.get(reverse("admin:survey_invite_changelist")).content.decode()
    for invite in Invite.objects.all():
        link = invite_link(invite)
        assert f"<code>{link}</code>" in html and f'data-link="{link}"' in html
    assert html.count('class="button copy-link"') == 2
    assert "/static/survey/copy_link.js" in html
    assert finders.find("survey/copy_link.js") and finders.find("survey/admin.css")
    assert "onclick" not in html and "clipboard" not in html  # the behaviour lives in the static file


# --- the item view --------------------------------------------------------------------------------------


def play_fooled(study):
    """One expert: takes a synthetic portrait for the real one in every real-vs-synthetic question, finds
    the training member, diagnoses right, and skips the very last question."""
    session = services.session_start(invite=services.invites_issue(study=study, count=1)[0])
    services.session_profile_submit(session=session, profession="other", years_experience=1)
    services.session_quiz_begin(session=session)
    picks, skipped = {}, None
    while (question := services.session_current_question(session=session)) is not None:
        remaining = session.questions.filter(answer__isnull=True).count()
        if remaining == 1:
            skipped = question
            services.answer_submit(session=session, question_id=question.pk, choice=None)
            continue
        choice = question.correct_choice
        if question.category == "real_vs_synthetic":
            option = question.options.exclude(code=question.correct_choice).select_related("image__portrait").first()
            choice, picks[question.pk] = option.code, option.image.portrait
        services.answer_submit(session=session, question_id=question.pk, choice=choice)
    return picks, skipped


def test_the_item_view_counts_per_portrait_what_experts_chose(study):
    picks, skipped = play_fooled(study)
    view = item_view(study)
    by_id = {item.portrait_id: item for item in view.portraits}
    for portrait in picks.values():  # every synthetic portrait taken for real is counted as such
        assert by_id[portrait.pk].rvs_chosen == 1 and by_id[portrait.pk].rvs_shown == 1
    assert {i.portrait_id for i in view.fooled} == {p.pk for p in picks.values()}
    assert all(i.kind == "synthetic" for i in view.fooled)
    real_shown = [i for i in view.portraits if i.kind == "real" and i.rvs_shown]
    assert real_shown and all(i.rvs_chosen == 0 for i in real_shown)  # the real ones were never picked
    n_rvs = sum(i.rvs_chosen for i in view.portraits)
    assert n_rvs == len(picks)  # the skipped last question picked nothing, whatever its category
    members = [i for i in view.portraits if i.reid_shown]
    assert members and all(i.reid_chosen == int(bool(i.used_in_training)) for i in members)
    diagnosed = [i for i in view.portraits if i.diag_shown]
    assert diagnosed and all(i.diag_right == i.diag_shown for i in diagnosed)
    answered_diagnoses = (
        study.sessions.get()
        .questions.filter(category="diagnosis", is_practice=False, answer__outcome="answered")
        .count()
    )
    assert sum(i.diag_shown for i in diagnosed) == answered_diagnoses  # the skip is left out


def test_the_item_page_shows_the_most_fooling_portraits_as_thumbnails(study, admin_client):
    play_fooled(study)
    page = admin_client.get(reverse("survey:items", args=[study.slug]))
    html = page.content.decode()
    assert page.status_code == 200 and "fooled the experts most" in html
    fooled = page.context["items"].fooled
    assert fooled
    for item in fooled:
        assert reverse("survey:bank-image", args=[item.portrait_id]) in html
    dashboard = admin_client.get(reverse("survey:dashboard", args=[study.slug])).content.decode()
    assert reverse("survey:items", args=[study.slug]) in dashboard


def test_the_item_page_before_any_answer(study, admin_client):
    page = admin_client.get(reverse("survey:items", args=[study.slug]))
    assert page.status_code == 200 and b"No answers yet" in page.content


def test_the_item_page_is_fenced_per_study(disorders, client, django_user_model):
    mine, theirs = StudyFactory(slug="mine", disorders=disorders), StudyFactory(slug="theirs", disorders=disorders)
    for s in (mine, theirs):
        make_bank(s, disorders)
    me = coordinator_of(mine, "me")
    assert me.get(reverse("survey:items", args=["mine"])).status_code == 200
    assert me.get(reverse("survey:items", args=["theirs"])).status_code == 404
    assert client.get(reverse("survey:items", args=["mine"])).status_code == 302  # to the login page
    assert Portrait.objects.filter(study=theirs).exists()
