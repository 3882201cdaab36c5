"""Complete a running demo study in headless chromium, as a participant would.

    .venv/bin/python tests/e2e/complete_demo.py PARTICIPANT_LINK [--screenshots DIR]

Prints each question's category and the end page's scores. Used to check `scripts/demo` from a fresh
clone; not part of the test suite.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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
        page.click("text=Start the timed survey")
        for number in range(1, 31):
            page.wait_for_selector("[data-option]:not([disabled])")
            prompt = page.inner_text(".prompt")
            if screenshots and number <= 30:
                screenshots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshots / f"question-{number:02d}.png"))
            options = page.locator("button.option[data-option]")
            if number % 9 == 0:
                page.click("button.skip")
            else:
                options.nth(number % options.count()).click()
            page.wait_for_load_state("load")
            print(f"question {number:2d}: {prompt[:70]}")
        page.wait_for_selector("text=Thank you")
        print(page.inner_text("main"))
        browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("link")
    parser.add_argument("--screenshots", type=Path)
    args = parser.parse_args()
    complete(args.link, args.screenshots)
