"""A participant's session in a real browser against a live server."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from survey.image_bank import portrait_add
from survey.models import Answer, Invite, Outcome, QuizSession
from tests.survey.factories import DisorderFactory, StudyFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def browser_study(image_bank_root):
    disorders = [DisorderFactory(code=f"phx{i}", name=f"Phantom syndrome {i}") for i in range(5)]
    study = StudyFactory(disorders=disorders, n_real_vs_synthetic=2, n_reidentification=2, n_diagnosis=2,
                         show_feedback=True, load_allowance_ms=5_000)
    rng = np.random.default_rng(1)
    for disorder in disorders:
        for kind, used, n in [("real", True, 3), ("real", False, 3), ("synthetic", None, 6), ("latent_average", None, 1)]:
            for _ in range(n):
                image = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
                portrait_add(study=study, image=image, kind=kind, disorder_code=disorder.code, used_in_training=used)
    return study


def start(page, live_server, study) -> QuizSession:
    invite = Invite.objects.create(study=study)
    page.goto(live_server.url + reverse("survey:invite", args=[invite.token]))
    page.check("input[name=agree]")
    page.click("button[type=submit]")
    page.select_option("select[name=profession]", "clinical_geneticist")
    page.fill("input[name=years_experience]", "12")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Start the timed survey")
    return QuizSession.objects.get(invite=invite)


def wait_for_question(page) -> None:
    page.wait_for_selector("[data-portraits]:not([hidden])")
    page.wait_for_selector("[data-option]:not([disabled])")


def test_a_participant_completes_all_three_categories(page, live_server, browser_study, artifacts):
    session = start(page, live_server, browser_study)
    page.screenshot(path=str(artifacts / "practice.png"), full_page=True)
    page.click("text=Start the timed survey")
    categories_seen = []
    for n in range(6):
        wait_for_question(page)
        question = session.questions.filter(is_practice=False, answer__isnull=True).order_by("position").first()
        categories_seen.append(question.category)
        page.screenshot(path=str(artifacts / f"question-{question.category}.png"), full_page=True)
        if n == 0:
            page.click("button.skip")
        else:
            page.click(f"button[data-option][value='{question.correct_choice}']")
        page.wait_for_load_state("load")
    page.wait_for_selector("text=Thank you")
    page.screenshot(path=str(artifacts / "end.png"), full_page=True)
    assert set(categories_seen) == {"real_vs_synthetic", "reidentification", "diagnosis"}
    outcomes = sorted(Answer.objects.filter(question__session=session).values_list("outcome", flat=True))
    assert outcomes == sorted([Outcome.SKIPPED] + [Outcome.ANSWERED] * 5)
    assert page.locator("table.scores").is_visible()


def test_a_questions_portraits_appear_together_after_loading(page, live_server, browser_study):
    start(page, live_server, browser_study)
    page.click("text=Start the timed survey")
    wait_for_question(page)
    complete = page.eval_on_selector_all("[data-portraits] img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
    assert complete and all(complete)


def test_the_countdown_matches_the_servers_deadline(page, live_server, browser_study):
    session = start(page, live_server, browser_study)
    page.click("text=Start the timed survey")
    wait_for_question(page)
    question = session.questions.filter(is_practice=False).order_by("position").first()
    question.refresh_from_db()
    shown = int(page.inner_text("[data-countdown]").split()[0])
    from django.utils import timezone

    server_left = (question.deadline() - timezone.now()).total_seconds()
    assert abs(shown - server_left) <= 1.5


def test_a_reload_keeps_the_question_and_its_clock(page, live_server, browser_study):
    session = start(page, live_server, browser_study)
    page.click("text=Start the timed survey")
    wait_for_question(page)
    first = session.questions.filter(is_practice=False).order_by("position").first()
    page.wait_for_timeout(2_000)
    page.reload()
    wait_for_question(page)
    first.refresh_from_db()
    assert page.url.endswith(reverse("survey:quiz"))
    shown = int(page.inner_text("[data-countdown]").split()[0])
    assert shown <= first.time_limit_ms // 1000 - 1
    assert not Answer.objects.filter(question__session=session).exists()


def test_the_back_button_cannot_re_answer(page, live_server, browser_study):
    session = start(page, live_server, browser_study)
    page.click("text=Start the timed survey")
    wait_for_question(page)
    first = session.questions.filter(is_practice=False).order_by("position").first()
    wrong = first.options.exclude(code=first.correct_choice).first().code
    page.click(f"button[data-option][value='{wrong}']")
    page.wait_for_load_state("load")
    wait_for_question(page)
    page.go_back()
    page.wait_for_load_state("load")
    if page.locator(f"button[data-option][value='{first.correct_choice}']:not([disabled])").count():
        page.click(f"button[data-option][value='{first.correct_choice}']")
        page.wait_for_load_state("load")
    assert Answer.objects.get(question=first).choice == wrong


def test_a_question_times_out_in_the_browser(page, live_server, browser_study):
    browser_study.time_limit_real_vs_synthetic_ms = browser_study.time_limit_reidentification_ms = 2_000
    browser_study.time_limit_diagnosis_ms = 2_000
    browser_study.grace_ms = 500
    browser_study.save()
    session = start(page, live_server, browser_study)
    page.click("text=Start the timed survey")
    wait_for_question(page)
    first = session.questions.filter(is_practice=False).order_by("position").first()
    # The page's own countdown reports the timeout; nothing here touches the server's clock.
    for _ in range(100):
        if Answer.objects.filter(question=first).exists():
            break
        page.wait_for_timeout(100)
    assert Answer.objects.get(question=first).outcome == Outcome.TIMEOUT
    wait_for_question(page)  # and the next question follows
    assert session.questions.get(is_practice=False, position=2).served_at is not None


@pytest.mark.parametrize("viewport", [{"width": 768, "height": 1024}, {"width": 1366, "height": 768}],
                         ids=["tablet-portrait", "laptop"])
def test_a_question_fits_the_screen_without_sideways_scrolling(browser, live_server, browser_study, viewport, artifacts):
    context = browser.new_context(viewport=viewport, has_touch=viewport["width"] < 1000)
    page = context.new_page()
    try:
        start(page, live_server, browser_study)
        page.click("text=Start the timed survey")
        wait_for_question(page)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        for button in page.locator("[data-option]").all():
            box = button.bounding_box()
            assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
        page.screenshot(path=str(artifacts / f"question-{viewport['width']}x{viewport['height']}.png"), full_page=True)
    finally:
        context.close()
