"""A real Chromium (Debian's) driven by Playwright against the session's local stack."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

# The CPU is shared with workers and the emulator: give each expectation room.
expect.set_options(timeout=20_000)

#: Set to a folder (e.g. docs/console) to save a screenshot of each page the tests visit.
SHOTS = os.environ.get("MQ_CONSOLE_SCREENSHOTS")


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless Chromium; missing Chromium fails the run (console tests never skip).

    Package-scoped: Playwright's sync API runs an event loop in this thread while it is open,
    and later tests' ``asyncio.run`` refuses to start inside a running loop.
    """
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Chromium is required for the console tests: apt-get install chromium"
    with sync_playwright() as playwright:
        # Root in CI cannot use Chromium's user-namespace sandbox.
        instance = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (own session storage) at 1280×800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()


def screenshot(page: Page, name: str) -> None:
    """Save the page as ``<MQ_CONSOLE_SCREENSHOTS>/<name>.png`` when screenshots are asked for."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)
