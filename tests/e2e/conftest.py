"""Browser tests: Playwright for Python driving Debian's chromium (browsers cannot be downloaded here)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SURVEY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
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

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are synchronous and
# happen between browser steps, never inside the loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py orders the run by the `slow` mark
def pytest_collection_modifyitems(config, items):
    """Every browser test is slow (a chromium, a live server, the quiz's own pauses); without a chromium
    they are skipped."""
    browser_tests = [item for item in items if "tests/e2e" in str(item.fspath)]
    for item in browser_tests:
        item.add_marker(pytest.mark.slow)
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return
    skip = pytest.mark.skip(reason=f"no chromium at {CHROMIUM} (apt-get install chromium)")
    for item in browser_tests:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def playwright_driver():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_driver):
    """One chromium per test module, so that a browser a failing test left broken fails no other module."""
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def phantom_bank_images(tmp_path_factory):
    """Phantom portraits for a small bank (five disorders, 141 portraits), rendered once per test run.

    Each disorder is rendered by one test process into the run's shared temporary folder (as PNG, lossless)
    under its own lock; the processes start at different disorders, so those that reach the browser tests
    together share the rendering, and each reads back what the others rendered."""
    import json

    from filelock import FileLock
    from PIL import Image

    from tests.e2e.participant import DISORDERS, render_disorder_images

    # xdist workers' temporary folders share the run's folder; without xdist the run's folder is the base
    # (its parent holds earlier runs, whose bank a changed renderer would not match)
    run_folder = tmp_path_factory.getbasetemp()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker:
        run_folder = run_folder.parent
    shared = run_folder / "phantom-bank"
    shared.mkdir(exist_ok=True)
    first = int(worker.removeprefix("gw") or 0) % len(DISORDERS)
    listed: dict[str, dict[str, list[str]]] = {}
    for code in DISORDERS[first:] + DISORDERS[:first]:
        index = shared / f"{code}.json"
        with FileLock(shared / f"{code}.lock"):
            if not index.exists():
                names = {}
                for kind, batch in render_disorder_images(code).items():
                    names[kind] = [f"{code}-{kind}-{i}.png" for i in range(len(batch))]
                    for name, image in zip(names[kind], batch, strict=True):
                        image.save(shared / name, compress_level=1)  # lossless, and quick to write
                index.write_text(json.dumps(names))
        listed[code] = json.loads(index.read_text())

    def read(name: str) -> Image.Image:
        with Image.open(shared / name) as image:
            return image.convert("RGB")

    # in the disorders' own order, whichever process rendered them
    return {code: {kind: [read(n) for n in listed[code][kind]] for kind in listed[code]} for code in DISORDERS}
