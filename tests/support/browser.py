"""A real headless browser for UI tests: Playwright driving the system's Chromium (never a downloaded one).

    reason = browser_unavailable()          # None, or why the browser tests must be skipped
    with chromium() as browser:
        page = browser.new_context().new_page()

Debian's ``chromium`` package provides ``/usr/bin/chromium``; ``playwright install`` is never used.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("OAUTH_CONNECTOR_CHROMIUM", "/usr/bin/chromium"))
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


def browser_unavailable() -> str | None:
    """Why a browser cannot be started here (``None`` when it can)."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install playwright)"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


@contextmanager
def chromium(*, timeout_ms: float = 30_000) -> Iterator[Any]:
    """A headless Chromium ``Browser`` (Playwright sync API), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=timeout_ms
        )
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Any, airflow_url: str, username: str, password: str) -> None:
    """Open Airflow at ``airflow_url`` and sign in on its login page (SimpleAuthManager's form)."""
    page.goto(airflow_url)
    page.locator("input[name='username']").fill(username)
    page.locator("input[name='password']").fill(password)
    page.get_by_role("button", name="Sign in").click()
