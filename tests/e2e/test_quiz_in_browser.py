"""The rules of the clock as a participant's browser meets them: the countdown is the server's, a reload or
the back button changes nothing, portraits are fetched only when they are about to be shown, slow portraits
are said to be slow, and without JavaScript the page says that the quiz needs it."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse
from django.utils import timezone

from survey import services
from survey.models import Answer, Question
from tests.e2e.participant import (
    PHONE,
    answer_of,
    begin,
    current_question,
    make_study,
    start,
    start_from_intro,
    wait_armed,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def browser_study(phantom_bank_images, image_bank_root):
    return make_study(phantom_bank_images)


def to_first_question(page, live_server, study):
    session = start(page, live_server, study)
    begin(page)
    start_from_intro(page)
    wait_armed(page)
    return session, current_question(session)


def shown_seconds(page) -> int:
    return int(page.inner_text(".bar [data-countdown]").split()[0])


def test_the_countdown_matches_the_servers_deadline(page, live_server, browser_study):
    _, question = to_first_question(page, live_server, browser_study)
    question.refresh_from_db()
    server_left = (question.deadline() - timezone.now()).total_seconds()
    assert abs(shown_seconds(page) - server_left) <= 1.5


def test_a_reload_keeps_the_question_and_its_clock(page, live_server, browser_study):
    session, first = to_first_question(page, live_server, browser_study)
    page.wait_for_timeout(2_000)
    page.reload()
    page.wait_for_selector("[data-question]")
    assert page.locator("[data-interstitial]:not([hidden])").count() == 0  # no pause: the clock runs on
    wait_armed(page)
    assert current_question(session).pk == first.pk
    assert shown_seconds(page) <= first.time_limit_ms // 1000 - 1
    assert not Answer.objects.filter(question__session=session).exists()


def test_the_back_button_cannot_re_answer(page, live_server, browser_study):
    _, first = to_first_question(page, live_server, browser_study)
    wrong = first.options.exclude(code=first.correct_choice).first().code
    page.click(f"button[data-choice][value='{wrong}']")
    page.wait_for_function(
        "document.querySelector('[data-question]') === null || "
        "document.querySelector('[data-question]').dataset.state === 'waiting'"
    )
    page.go_back()
    page.wait_for_load_state("load")
    right = page.locator(f"button[data-choice][value='{first.correct_choice}']")
    if right.count():
        page.wait_for_timeout(2_000)  # whatever the page shows, give it the time to arm
        if right.is_enabled():
            right.click()
            page.wait_for_load_state("load")
    assert Answer.objects.get(question=first).choice == wrong


def test_portraits_are_requested_only_when_the_pause_between_questions_ends(page, live_server, browser_study):
    """The server starts the clock once it has delivered a question's portraits, so the page must not
    fetch them while it shows "Answer recorded" or "Get ready"."""
    session = start(page, live_server, browser_study)
    begin(page)
    portrait_requests: list[float] = []
    page.on("request", lambda r: portrait_requests.append(time.monotonic()) if "/img/" in r.url else None)
    with page.expect_navigation() as navigation:
        page.click(".intro button[type=submit]:not([disabled])")
    loaded = time.monotonic()
    html = navigation.value.text()
    assert ' src="/img/' not in html and ' data-src="/img/' in html
    wait_armed(page)
    question = current_question(session)
    assert len(portrait_requests) == question.images.count()
    assert min(portrait_requests) - loaded >= 0.9  # the page's 1 s pause came first


def test_slow_portraits_show_the_servers_time_and_say_so(page, live_server, browser_study, monkeypatch, artifacts):
    """Portraits slower than the load allowance: the display shows the server's clock running, and says it waits."""
    import survey.views

    browser_study.load_allowance_ms = 1_000
    browser_study.save()
    deliver = survey.views.image_response
    delayed = []

    def slow_first_portrait(*args, **kwargs):
        if not delayed:  # the live server answers one request at a time: the others wait behind this one
            delayed.append(True)
            time.sleep(4.5)
        return deliver(*args, **kwargs)

    monkeypatch.setattr(survey.views, "image_response", slow_first_portrait)
    start(page, live_server, browser_study)
    begin(page)
    start_from_intro(page)
    page.wait_for_selector("[data-status]:not([hidden])", timeout=5_000)
    assert "Waiting for the portraits" in page.inner_text("[data-status]")
    page.wait_for_timeout(2_500)  # past the load allowance: the server's clock runs, and the display with it
    question = Question.objects.filter(served_at__isnull=False, answer__isnull=True).get()
    server_left = (question.deadline() - timezone.now()).total_seconds()
    shown = shown_seconds(page)
    page.screenshot(path=str(artifacts / "waiting-for-portraits.png"))
    assert shown < question.time_limit_ms // 1000 and abs(shown - server_left) <= 1.5
    assert answer_of(question) is None


def test_without_javascript_the_page_says_the_quiz_needs_it(browser, live_server, browser_study, artifacts):
    with_script = PHONE.context(browser)
    page = with_script.new_page()
    session = start(page, live_server, browser_study)
    cookies = with_script.cookies()
    with_script.close()
    services.session_quiz_begin(session=session)
    services.question_serve(session=session, question_id=current_question(session).pk)

    no_script = PHONE.context(browser, java_script_enabled=False)
    try:
        page = no_script.new_page()
        no_script.add_cookies(cookies)
        page.goto(live_server.url + reverse("survey:quiz"))
        page.screenshot(path=str(artifacts / "no-javascript.png"), full_page=True)
        assert "needs JavaScript" in page.inner_text("main")
        assert page.locator("text=Waiting for the portraits").is_hidden()
        assert page.locator("[data-stage]").is_hidden()
        assert page.locator("img[src]").count() == 0
    finally:
        no_script.close()
