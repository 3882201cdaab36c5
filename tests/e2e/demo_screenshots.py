"""docs/expert.md's question screenshots, taken from a running demo study in headless chromium.

    .venv/bin/python tests/e2e/demo_screenshots.py PARTICIPANT_LINK [--out docs/screenshots]

Walks the session as a participant (answering every question with its first choice) and saves the first
timed question of each category as `question-<category>.jpg` at 1440x900, the size docs/expert.md shows. Run it on
a fresh `manage.py build_demo` so that the screenshots show the demo a newcomer gets. Not part of the test
suite (the browser tests take their own screenshots under test-artifacts/e2e/).
"""

from __future__ import annotations

import argparse
import io
import re
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

from tests.e2e.complete_demo import CHROMIUM_ARGS

VIEWPORT = {"width": 1440, "height": 900}
JPEG_QUALITY = 90


def slug(category: str) -> str:
    """docs/expert.md's file name for a category's label: 'Real vs synthetic' -> real-vs-synthetic,
    'Re-identification' -> reidentification."""
    return "-".join(re.sub(r"[^a-z ]", "", category.lower()).split())


def all_decoded(page, tries: int = 100) -> None:
    """Wait until every portrait on the page has arrived and decoded (the page's CSP forbids the string
    predicates of wait_for_function, so this polls)."""
    for _ in range(tries):
        if page.evaluate(
            "() => [...document.querySelectorAll('img[data-src]')].every(i => i.complete && i.naturalWidth > 0)"
        ):
            return
        page.wait_for_timeout(100)
    raise TimeoutError("portraits did not load")


def take(link: str, out: Path) -> list[Path]:
    saved: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(link)
        page.check("input[name=agree]")
        page.click("button[type=submit]")
        page.select_option("select[name=profession]", "clinical_geneticist")
        page.fill("input[name=years_experience]", "10")
        page.click("button[type=submit]")
        page.click("text=Continue")  # "How the survey works"
        shot_categories: set[str] = set()
        while True:
            page.wait_for_selector("[data-question], .intro, [data-end]")
            if page.locator("[data-end]").count():
                break
            if page.locator(".intro").count():
                page.click(".intro button[type=submit]:not([disabled])")
                continue
            page.wait_for_selector("[data-question][data-state=armed]")
            all_decoded(page)
            category = page.inner_text(".where-category")
            practice = "Practice" in page.inner_text(".where-position")
            if not practice and category not in shot_categories:  # the first timed question of each category
                path = out / f"question-{slug(category)}.jpg"
                png = page.screenshot()
                Image.open(io.BytesIO(png)).convert("RGB").save(path, quality=JPEG_QUALITY)
                saved.append(path)
                shot_categories.add(category)
            page.locator("[data-choice]").first.click()
            page.wait_for_selector("[data-question][data-state=waiting], .intro, [data-end]")
        browser.close()
    return saved


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("link")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for shot in take(args.link, args.out):
        print(shot)
