"""Complete a running demo study in headless chromium, as a participant would.

    .venv/bin/python tests/e2e/complete_demo.py PARTICIPANT_LINK [--screenshots DIR]

Prints each question's category and the end page's scores. Used to check `scripts/demo` from a fresh
clone; not part of the test suite.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def complete(link: str, screenshots: Path | None) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1024, "height": 768})  # a tablet in landscape
        page.goto(link)
        page.check("input[name=agree]")
        page.click("button[type=submit]")
        page.select_option("select[name=profession]", "clinical_geneticist")
        page.fill("input[name=years_experience]", "10")
        page.click("button[type=submit]")
        page.click("text=Continue")  # "How the survey works"
        number = 0
        while True:
            page.wait_for_selector("[data-question], .intro, [data-end]")
            if page.locator("[data-end]").count():
                break
            if page.locator(".intro").count():
                print(page.inner_text(".intro h1"))
                page.click(".intro button[type=submit]:not([disabled])")
                continue
            page.wait_for_selector("[data-question][data-state=armed]")
            number += 1
            prompt = page.inner_text(".prompt")
            where = page.inner_text(".where").replace("\n", " ")
            if screenshots:
                screenshots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshots / f"question-{number:02d}.png"))
            targets = page.locator("[data-choice]")
            if number % 9 == 0:
                page.click("[data-skip]")
            else:
                targets.nth(number % targets.count()).click()
            page.wait_for_selector("[data-question][data-state=waiting], .intro, [data-end]")
            print(f"{where:45s} {prompt[:70]}")
        print(page.inner_text("main"))
        browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("link")
    parser.add_argument("--screenshots", type=Path)
    args = parser.parse_args()
    complete(args.link, args.screenshots)
