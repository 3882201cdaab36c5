"""A coordinator's pages in the browser: the study's clock in seconds, issuing invites from the admin's
intermediate page, copying a link, the dashboard and its item view with thumbnails. Screenshots go to
test-artifacts/e2e/coordinator/."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from survey.models import Invite
from tests.e2e.participant import make_study
from tests.survey.test_coordinator_pages import play_fooled

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shots(artifacts):
    folder = artifacts / "coordinator"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_coordinator_issues_invites_and_reads_the_item_view(
    browser, live_server, phantom_bank_images, image_bank_root, shots
):
    study = make_study(phantom_bank_images, with_practice=False, arming_delay_ms=0, expected_sessions=2)
    play_fooled(study)
    get_user_model().objects.create_superuser("coordinator", "c@example.org", "a long enough password")
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "coordinator")
        page.fill("#id_password", "a long enough password")
        page.click("input[type=submit]")
        page.wait_for_selector("#site-name")

        page.goto(f"{live_server.url}/admin/survey/study/{study.pk}/change/")
        assert page.input_value("#id_arming_delay_s") == "0"
        assert page.input_value("#id_load_allowance_s") == "8"
        page.locator("#id_time_limit_diagnosis_s").scroll_into_view_if_needed()
        page.screenshot(path=shots / "study-clock-in-seconds.png")

        page.goto(f"{live_server.url}/admin/survey/study/")
        page.check(f"input[name=_selected_action][value='{study.pk}']")
        page.select_option("select[name=action]", "issue_invites")
        page.click("button[name=index]")
        page.wait_for_selector("#id_count")
        page.fill("#id_count", "5")
        page.fill("#id_label_prefix", "Ward A")
        page.screenshot(path=shots / "issue-invites.png", full_page=True)
        page.click("input[name=apply]")
        page.wait_for_selector("button.copy-link")
        assert Invite.objects.filter(study=study, label__startswith="Ward A").count() == 5
        page.screenshot(path=shots / "invite-links.png", full_page=True)
        button = page.locator("button.copy-link").first
        link = button.get_attribute("data-link")
        button.click()
        page.wait_for_function("document.querySelector('button.copy-link').textContent === 'Copied'")
        assert page.evaluate("navigator.clipboard.readText()") == link

        page.goto(f"{live_server.url}/staff/studies/{study.slug}/dashboard/")
        page.wait_for_selector("text=Per portrait")
        page.screenshot(path=shots / "dashboard.png", full_page=True)
        page.click("text=Per portrait")
        page.wait_for_selector("ol.fooled img")
        thumbnails = page.locator("ol.fooled img")
        assert thumbnails.count() >= 1
        page.wait_for_function("[...document.querySelectorAll('ol.fooled img')].every(i => i.complete)")
        assert page.evaluate("[...document.querySelectorAll('ol.fooled img')].every(i => i.naturalWidth > 0)")
        page.screenshot(path=shots / "item-view.png", full_page=True)
    finally:
        context.close()
