"""A real headless browser for UI tests: Playwright driving the system's Chromium (never a downloaded one).

    reason = browser_unavailable()          # None, or why the browser tests must be skipped
    with chromium() as browser:
        page = browser.new_context().new_page()

Debian's ``chromium`` package provides ``/usr/bin/chromium``; ``playwright install`` is never used.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[2]
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


def connections_row(page: Any, airflow_url: str, conn_id: str) -> Any:
    """Open Airflow's Connections page filtered to ``conn_id`` (its search in the URL): that connection's row.

    The filter is in the address, so the list is fetched once, already filtered. Typing into the page's search box
    instead leaves the unfiltered row on screen until the filtered list replaces it, and a click on that row's Edit
    is lost when the row re-renders (the dialog it opened closes with it: seen on 3.2.2 in CI).
    """
    from playwright.sync_api import expect

    page.goto(f"{airflow_url.rstrip('/')}/connections?name_pattern={quote(conn_id)}")
    row = page.locator("tr", has_text=conn_id)
    expect(row).to_have_count(1)
    return row


def press_connection_test(page: Any, airflow_url: str, conn_id: str) -> Any:
    """Press ``conn_id``'s Test on Airflow's Connections page: the API's response to the page's test request."""
    row = connections_row(page, airflow_url, conn_id)
    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test")) as answer:
        row.get_by_role("button", name=re.compile("^Test", re.I)).click()
    return answer.value


def save_artifacts(page: Any, name: str) -> None:
    """Keep a failed browser test's page for the reader: ``artifacts/<name>.png`` and ``.html`` (git-ignored)."""
    (REPO / "artifacts").mkdir(exist_ok=True)
    page.screenshot(path=str(REPO / "artifacts" / f"{name}.png"), full_page=True)
    (REPO / "artifacts" / f"{name}.html").write_text(page.content())
