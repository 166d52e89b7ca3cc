"""Headless Chromium (Debian's ``chromium``, installed by ``.ci/run``) for the dashboard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

# ``conserje demo`` as a process, for the chat simulator.
from tests.demo.conftest import start_demo  # noqa: F401

# The real server and its fakes, as the end-to-end tests start them.
from tests.e2e.conftest import make_server, openai_fake, whapi_fake  # noqa: F401

CHROMIUM = Path(os.environ.get("CONSERJE_CHROMIUM", "/usr/bin/chromium"))
# Nothing but the page under test: no network of its own, no GPU, no sandbox in containers.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium; missing, it skips the test, except in CI where it fails it."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: apt-get install -y --no-install-recommends chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    """Where the README's screenshot goes: ``CONSERJE_SCREENSHOT_DIR`` (e.g. ``docs``), else tmp."""
    chosen = os.environ.get("CONSERJE_SCREENSHOT_DIR")
    return Path(chosen) if chosen else tmp_path
