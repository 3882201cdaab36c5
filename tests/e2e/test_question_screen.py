"""Every click means what the expert meant: the question screen at desktop (1440×900), tablet (768×1024) and
phone (375×667) sizes, checked from geometry and from what the server recorded.

One participant per screen size walks a whole session (every category: its introduction, its practice
question, its timed questions, then the end page) and on the way
- clicks (or taps) the centre of every candidate face and checks that the answer stored is the option whose
  portrait the browser hit-tests at that point, and the same for every diagnosis button;
- clicks the reference image (latent average, diagnosis portrait) and checks that nothing is stored;
- answers with the keyboard (a letter, upper case, and a digit) and checks the option stored;
- clicks again at the same point 150, 300 and 500 ms after an answer or a timeout, and checks that the next
  question has stored nothing;
- enlarges portraits (zoom button, Z and Space on a focused face, which would click it without the page's
  handler) and checks that nothing is stored;
- measures the rendered portraits, checks that every answer target and the countdown are on screen without
  scrolling, and runs axe-core (WCAG 2.1 A and AA) on every page;
- saves screenshots of every page under test-artifacts/e2e/<size>/.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from axe_playwright_python.sync_playwright import Axe

from survey.models import Answer, Outcome, Question
from tests.e2e.participant import (
    DEVICES,
    answer_of,
    begin,
    centre,
    current_question,
    make_study,
    option_under,
    page_scroll,
    press_at,
    press_key,
    start,
    start_from_intro,
    touch_targets_too_small,
    wait_armed,
    wait_for_step,
)

pytestmark = pytest.mark.django_db(transaction=True)

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE = Axe()
STRAY_MS = (150, 300, 500)
# Smallest rendered candidate portrait (CSS px): the number on a desktop screen; on a tablet and a
# phone, two faces side by side take the screen's width.
MIN_FACE = {"desktop": 360, "tablet": 340, "phone": 160}
SHORT_LIMIT_MS = 1_500  # the question of each category that is left to time out

# What the walk does with the k-th question of each category (k = 0 is the practice question):
# ("face", slot) clicks the answer target in that slot, ("key", key) presses a key, ("timeout", None) waits.
PLAN = {
    "real_vs_synthetic": [("face", 0), ("face", 1), ("timeout", None), ("face", 2), ("face", 3), ("key", "C")],
    "reidentification": [("face", 0), ("face", 1), ("timeout", None), ("face", 2), ("key", "2")],
    "diagnosis": [("face", 0), ("face", 1), ("timeout", None), ("face", 2), ("key", "4")],
}


def axe_check(page, name: str) -> None:
    results = AXE.run(page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]})
    assert results.violations_count == 0, f"axe-core on the {name} page:\n{results.generate_report()}"


def wait_until(condition, timeout_s: float = 10.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def stray_clicks(page, device, x: float, y: float, since: float, scroll: tuple[float, float]) -> None:
    """Clicks at the same point 150, 300 and 500 ms after `since` (a time.monotonic()). They land while the
    next page is being requested or shown, so the scroll offset is the one read before the answer."""
    for ms in STRAY_MS:
        time.sleep(max(0.0, since + ms / 1000 - time.monotonic()))
        press_at(page, device, x, y, scroll)


def on_screen(page, device, selector: str) -> None:
    """Every element matching `selector` lies inside the viewport as the page opens (no scrolling)."""
    assert page.evaluate("window.scrollY") == 0
    for element in page.locator(selector).all():
        box = element.bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0 and box["y"] >= 0, (selector, box)
        assert box["x"] + box["width"] <= device.width + 0.5, (selector, box)
        assert box["y"] + box["height"] <= device.height + 0.5, (selector, box)


def check_nothing_recorded(question: Question, page) -> None:
    page.wait_for_timeout(400)
    assert answer_of(question) is None
    assert page.locator("[data-question][data-state=armed]").count() == 1


@pytest.fixture
def walk_study(phantom_bank_images, image_bank_root):
    return make_study(phantom_bank_images, n_real_vs_synthetic=5, n_reidentification=4, n_diagnosis=4)


@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.name)
def test_every_click_means_what_the_expert_meant(browser, live_server, walk_study, device, artifacts):
    shots = artifacts / device.name
    shots.mkdir(exist_ok=True)
    context = device.context(browser)
    page = context.new_page()
    csp_violations: list[str] = []
    page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)

    def check_page(page, name: str) -> None:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        axe_check(page, name)
        assert not touch_targets_too_small(page), (name, touch_targets_too_small(page))

    try:
        session = start(page, live_server, walk_study, check_page)
        begin(page)
        seen: Counter[str] = Counter()
        face_sizes: list[float] = []
        stimulus_sizes: list[float] = []
        expected: dict[int, tuple[str, str | None]] = {}  # question id -> (outcome, choice)
        pending_check: Question | None = None  # the question after a stray-clicked one: must stay unanswered

        while (step := wait_for_step(page)) != "end":
            question = current_question(session)
            if step == "intro":
                practice = question.is_practice
                name = f"intro-{question.category}" if practice else f"feedback-{question.category}"
                page.wait_for_selector(".intro button[type=submit]:not([disabled])")
                check_page(page, name)
                if not practice:
                    feedback = page.inner_text(".feedback")
                    assert "right" in feedback, feedback
                start_from_intro(page)
                continue

            wait_armed(page)
            if pending_check is not None:
                assert pending_check.pk == question.pk
                assert answer_of(question) is None, "a click meant for the question before answered this one"
                pending_check = None
            category = question.category
            k = seen[category]
            seen[category] += 1
            action, arg = PLAN[category][k]
            targets = page.locator("[data-choice]")

            if k == 0:
                page.screenshot(path=str(shots / f"practice-{category}.png"))
            if k == 1:
                page.screenshot(path=str(shots / f"question-{category}.png"))
                axe_check(page, f"question-{category}")
                assert not touch_targets_too_small(page), touch_targets_too_small(page)
                on_screen(page, device, "[data-choice], [data-skip], .bar [data-countdown]")
                if device.touch:  # the countdown stays in view when a page scrolls
                    assert page.eval_on_selector(".bar", "e => getComputedStyle(e).position") == "sticky"
                if category == "diagnosis":
                    box = page.locator(".reference--stimulus img").bounding_box()
                    stimulus_sizes.append(min(box["width"], box["height"]))
                else:
                    for img in page.locator(".face img").all():
                        box = img.bounding_box()
                        face_sizes.append(min(box["width"], box["height"]))
                        assert min(box["width"], box["height"]) >= MIN_FACE[device.name], (category, box)
                        assert abs(box["width"] - box["height"]) <= 1, box  # square, not cropped
                check_reference_and_zoom(page, device, question, shots)
                # The next question but one of this category is left to time out, quickly.
                later = session.questions.filter(sequence__gt=question.sequence).order_by("sequence").first()
                assert later.category == category and not later.is_practice
                Question.objects.filter(pk=later.pk).update(time_limit_ms=SHORT_LIMIT_MS)

            # Whether each press reached the page is judged below from what the server stored.
            scroll = page_scroll(page)
            if action == "face":
                x, y = centre(targets.nth(arg))
                choice = option_under(page, x, y)
                assert choice is not None
                clicked = time.monotonic()
                press_at(page, device, x, y, scroll)
                stray_clicks(page, device, x, y, clicked, scroll)
                expected[question.pk] = (Outcome.ANSWERED, choice)
            elif action == "key":
                x, y = centre(targets.nth(0))
                index = int(arg) - 1 if arg.isdigit() else ord(arg.lower()) - ord("a")
                choice = question.options.order_by("slot")[index].code
                pressed = time.monotonic()
                press_key(page, arg if arg.isdigit() else f"Shift+{arg}")
                stray_clicks(page, device, x, y, pressed, scroll)
                expected[question.pk] = (Outcome.ANSWERED, choice)
            else:
                x, y = centre(targets.nth(0))
                with page.expect_request(lambda r: r.url.endswith("/expire/"), timeout=SHORT_LIMIT_MS + 5_000):
                    pass  # the page's countdown ran out and it reports the timeout
                expired = time.monotonic()
                stray_clicks(page, device, x, y, expired, scroll)
                expected[question.pk] = (Outcome.TIMEOUT, None)
            if page.locator("[data-interstitial]:not([hidden])").count():
                page.screenshot(path=str(shots / f"pause-after-{action}.png"))
            recorded = wait_until(lambda q=question: answer_of(q))
            assert (recorded.outcome, recorded.choice or None) == expected[question.pk], (category, k, action)
            following = current_question(session)
            if following is not None and following.served_at is None and following.category == category:
                pending_check = following  # checked once it is armed

        check_page(page, "end")
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        if device.name == "phone":
            page.set_viewport_size({"width": 360, "height": 640})
            assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
            page.screenshot(path=str(shots / "end-360.png"), full_page=True)

        assert not csp_violations
        assert seen == {category: len(plan) for category, plan in PLAN.items()}
        assert stimulus_sizes and face_sizes and min(stimulus_sizes) > max(face_sizes)
        stored = Answer.objects.filter(question__session=session)
        assert {a.question_id: (a.outcome, a.choice or None) for a in stored} == expected
    finally:
        context.close()


def check_reference_and_zoom(page, device, question: Question, shots) -> None:
    """The reference image answers nothing; enlarging any portrait answers nothing and keeps the clock."""
    reference = page.locator(".reference img")
    if question.category == "real_vs_synthetic":
        assert reference.count() == 0
    else:
        x, y = centre(reference.first)
        assert option_under(page, x, y) is None
        press_at(page, device, x, y)
        check_nothing_recorded(question, page)

    overlay = page.locator("[data-zoom-overlay]")
    page.locator("[data-portrait] [data-zoom]").last.click()
    assert overlay.is_visible()
    shown = page.locator("[data-zoom-image]").bounding_box()
    assert min(shown["width"], shown["height"]) >= 0.8 * min(device.width, device.height - 120)
    page.screenshot(path=str(shots / f"zoom-{question.category}.png"))
    axe_check(page, f"zoom-{question.category}")
    page.keyboard.press("Escape")
    assert overlay.is_hidden()
    check_nothing_recorded(question, page)

    if question.category != "diagnosis":
        page.locator(".face").first.focus()
        page.keyboard.press("Space")  # on a focused button, Space would click it: here it enlarges
        assert overlay.is_visible()
        page.keyboard.press("Space")
        assert overlay.is_hidden()
        page.keyboard.press("z")
        assert overlay.is_visible()
        press_at(page, device, device.width / 2, device.height / 2)  # a click on the enlarged face closes it
        assert overlay.is_hidden()
        check_nothing_recorded(question, page)
