"""What the browser tests share: a small study of phantom portraits, the three screen sizes, a participant's
steps through the pages, and the checks read back from the database."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.urls import reverse
from PIL import Image, ImageFilter
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

import phantoms
from survey.image_bank import portrait_add
from survey.models import Answer, Invite, Option, Question, QuizSession, Study
from tests.survey.factories import DisorderFactory, StudyFactory

DISORDERS = ("velmar", "ostrin", "quellan", "dravik", "torvelle")
RENDER_SIZE = 256
BANK = {"training": 8, "held_out": 8, "synthetic": 12}  # per disorder, plus one latent average


@dataclass(frozen=True)
class Device:
    name: str
    width: int
    height: int
    touch: bool

    def context(self, browser, **options):
        return browser.new_context(
            viewport={"width": self.width, "height": self.height}, has_touch=self.touch, is_mobile=self.touch, **options
        )


DESKTOP = Device("desktop", 1440, 900, False)
TABLET = Device("tablet", 768, 1024, True)
PHONE = Device("phone", 375, 667, True)
DEVICES = (DESKTOP, TABLET, PHONE)


# --- the study ------------------------------------------------------------------------------------------


def render_disorder_images(code: str) -> dict[str, list[Image.Image]]:
    """One disorder's phantom portraits: real ones (even individuals used in training, odd ones held out),
    "synthetic" ones (other individuals, slightly smoothed) and a latent average (the mean of eight)."""

    def render(individual: int) -> Image.Image:
        return phantoms.render_portrait(code, individual=individual, size=RENDER_SIZE)

    training = [render(2 * i) for i in range(BANK["training"])]
    held_out = [render(2 * i + 1) for i in range(BANK["held_out"])]
    synthetic = [render(500 + i).filter(ImageFilter.GaussianBlur(0.6)) for i in range(BANK["synthetic"])]
    mean = np.mean([np.asarray(img, dtype=np.float32) for img in training], axis=0)
    average = Image.fromarray(mean.round().astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    return {"training": training, "held_out": held_out, "synthetic": synthetic, "latent_average": [average]}


def make_study(images, **settings) -> Study:
    names = {d.code: d.name for d in phantoms.DISORDERS}
    disorders = [DisorderFactory(code=code, name=names[code]) for code in DISORDERS]
    # The factory's defaults suit other tests (no practice, no arming delay); a browser meets the real ones.
    defaults = {
        "n_real_vs_synthetic": 2,
        "n_reidentification": 2,
        "n_diagnosis": 2,
        "show_feedback": True,
        "with_practice": True,
        "arming_delay_ms": 400,
        "load_allowance_ms": 8_000,
        "expected_sessions": 1,
        "title": "Phantom portraits study",
        "instructions": "The portraits are phantoms drawn by a program; no real patient is shown.",
    }
    study = StudyFactory(disorders=disorders, **{**defaults, **settings})
    for code, kinds in images.items():
        for kind, batch in kinds.items():
            for image in batch:
                if kind in ("training", "held_out"):
                    portrait_add(
                        study=study, image=image, kind="real", disorder_code=code, used_in_training=kind == "training"
                    )
                else:
                    portrait_add(study=study, image=image, kind=kind, disorder_code=code)
    return study


# --- a participant's steps ------------------------------------------------------------------------------


def start(page, live_server, study, check=None) -> QuizSession:
    """Consent and profile; leaves the page on "How the survey works". `check(page, name)`, if given, is
    called on each page as it opens."""
    check = check or (lambda page, name: None)
    invite = Invite.objects.create(study=study)
    page.goto(live_server.url + reverse("survey:invite", args=[invite.token]))
    check(page, "consent")
    page.check("input[name=agree]")
    page.click("button[type=submit]")
    page.wait_for_selector("select[name=profession]")
    check(page, "profile")
    page.select_option("select[name=profession]", "clinical_geneticist")
    page.fill("input[name=years_experience]", "12")
    page.click("button[type=submit]")
    page.wait_for_selector("text=How the survey works")
    check(page, "instructions")
    return QuizSession.objects.get(invite=invite)


def touch_targets_too_small(page, selector: str = "button, select, input, label.check") -> list[str]:
    """The visible controls smaller than 44 × 44 CSS px (a radio or checkbox counts by its label)."""
    return page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)]
            .filter(e => e.offsetParent !== null && !(e.type === "checkbox" || e.type === "hidden"))
            .map(e => [e, e.getBoundingClientRect()])
            .filter(([e, r]) => r.width < 44 || r.height < 44)
            .map(([e, r]) => `${e.outerHTML.slice(0, 80)} ${Math.round(r.width)}x${Math.round(r.height)}`)""",
        selector,
    )


def begin(page) -> None:
    """From "How the survey works" to the first page of the quiz (an introduction)."""
    page.click("text=Continue")
    wait_for_step(page)


def wait_for_step(page) -> str:
    """Waits for the next page of the quiz to settle; returns "intro", "question" or "end"."""
    page.wait_for_selector("[data-question], .intro, [data-end]")
    if page.locator(".intro").count():
        return "intro"
    if page.locator("[data-question]").count():
        return "question"
    return "end"


def start_from_intro(page) -> None:
    page.click(".intro button[type=submit]:not([disabled])")
    page.wait_for_selector("[data-question]")


def wait_armed(page, timeout: float = 15_000) -> None:
    page.wait_for_selector("[data-question][data-state=armed]", timeout=timeout)


def to_next_question(page) -> None:
    """Through any introductions to the next question, armed."""
    while wait_for_step(page) == "intro":
        start_from_intro(page)
    wait_armed(page)


def current_question(session: QuizSession) -> Question | None:
    return session.questions.filter(answer__isnull=True).order_by("sequence").first()


def answer_of(question: Question) -> Answer | None:
    return Answer.objects.filter(question=question).first()


def centre(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None, locator
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def option_under(page, x: float, y: float) -> str | None:
    """The code of the option whose portrait (or disorder button) is at this point of the screen, from the
    element the browser hit-tests there; None when no answer button is there."""
    hit = page.evaluate(
        """([x, y]) => {
            const button = document.elementFromPoint(x, y)?.closest("button[data-choice]");
            if (!button) return null;
            const img = button.querySelector("img");
            return {value: button.value, src: img ? img.getAttribute("src") : null};
        }""",
        [x, y],
    )
    if hit is None:
        return None
    if hit["src"]:
        token = hit["src"].rsplit("/", 1)[-1]
        return Option.objects.get(image__token=token).code  # the option whose ShownImage is under the point
    return hit["value"]


# How long a click, tap or key press may wait for the browser to confirm it. Chromium holds back the
# acknowledgement of input while a navigation is provisional (a click just after an answer lands in the
# moment the next page is requested), and Playwright's page.mouse, page.touchscreen and page.keyboard wait
# for it with no limit: a test would hang instead of failing. The selector-based actions below are bounded.
INPUT_TIMEOUT_MS = 5_000


def page_scroll(page) -> tuple[float, float]:
    """How far the page is scrolled (CSS px), right and down."""
    return tuple(page.evaluate("[window.scrollX, window.scrollY]"))


def press_at(page, device: Device, x: float, y: float, scroll: tuple[float, float] | None = None) -> bool:
    """A click with the mouse, or a tap on a touch screen, at a point of the viewport (CSS px).

    `scroll` is the page's scroll offset if already known (a press while the page may be navigating must
    not ask the page first). Returns False when the browser did not confirm the input in time; what the
    press did is then known only from what the server stored, which is what the tests assert."""
    if scroll is None:
        scroll = page_scroll(page)
    # The root element's box starts at minus the scroll offset, so this is the viewport point (x, y).
    position = {"x": x + scroll[0], "y": y + scroll[1]}
    action = page.tap if device.touch else page.click
    try:
        action("html", position=position, force=True, timeout=INPUT_TIMEOUT_MS)
    except PlaywrightTimeoutError:
        return False
    return True


def press_key(page, key: str) -> bool:
    """A key press on the page (e.g. "Shift+C"), bounded like press_at; False when not confirmed in time."""
    try:
        page.press("body", key, timeout=INPUT_TIMEOUT_MS)
    except PlaywrightTimeoutError:
        return False
    return True
