"""Airflow's own Connections page (a real api-server, Chromium): the ``oauth_connector`` form guides and checks.

What a newcomer meets in Add Connection: the OAuth settings in folding sections in the order they are filled,
dropdowns with readable names, required fields marked, invalid JSON refused before Save; and what the form
cannot check (an http token URL on a public host) is named by its label when Test is pressed, before any
token request; a provider preset chosen there wins over the defaults the form stores for every field left
alone (the profiles page, the authorization request and the CLI show the preset's settings). Airflow 3.2+
(3.1 builds the form from WTForms widgets, without sections or JSON editors).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_oauth_connector.fields import ADVANCED, AUTHORIZATION_CODE, ESSENTIALS, FORM_DEFAULTS, OTHER_GRANTS
from tests.support.airflow_server import ApiServer, run_python, serving_airflow
from tests.support.browser import (
    browser_unavailable,
    chromium,
    connections_row,
    press_connection_test,
    save_artifacts,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_LINE = tuple(int(part) for part in version("apache-airflow-core").split(".")[:2])
TOKEN_PARAMS = {"body": {"audience": "https://api.example.com"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    if AIRFLOW_LINE < (3, 2):
        pytest.skip("Airflow 3.1 builds the form from the hook's WTForms widgets (no sections, no JSON editor)")
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    with serving_airflow(tmp_path_factory.mktemp("form_airflow_home")) as api_server:
        yield api_server


def _signed_in_page(browser: Any, server: ApiServer) -> Any:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(server.url("/"))
    page.locator("input[name='username']").fill("admin")
    page.locator("input[name='password']").fill(server.passwords["admin"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Admin")).to_be_visible(timeout=60_000)
    return page


def _paste_into(page: Any, editor: Any, text: str) -> None:
    """Replace the JSON editor's text as a paste does (typing would meet its auto-closed brackets)."""
    page.evaluate("text => navigator.clipboard.writeText(text)", text)
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.press("Control+V")


def test_add_form_guides_refuses_bad_json_and_test_names_the_bad_field(
    server: ApiServer, admin_api: requests.Session
) -> None:
    from playwright.sync_api import expect

    conn_id = f"form_{secrets.token_hex(3)}"
    with chromium() as browser:
        page = _signed_in_page(browser, server)
        try:
            page.goto(server.url("/connections"))
            page.get_by_role("button", name="Add Connection").click()
            dialog = page.get_by_role("dialog")
            dialog.locator("input[name='connection_id']").fill(conn_id)
            connection_type = dialog.get_by_role("combobox").first
            connection_type.click(force=True)
            connection_type.fill("OAuth 2.0 API")
            page.keyboard.press("Enter")

            # The sections, in the order a newcomer fills them.
            sections = [ESSENTIALS, AUTHORIZATION_CODE, OTHER_GRANTS, ADVANCED]
            for section in sections:
                expect(dialog.get_by_role("button", name=section)).to_be_visible()
            tops = [dialog.get_by_role("button", name=s).bounding_box()["y"] for s in sections]
            assert tops == sorted(tops)
            expect(dialog.get_by_text("API base URL (required)", exact=True)).to_be_visible()

            dialog.locator("input[name='host']").fill("https://api.example.com/v1")
            dialog.locator("input[name='login']").fill("client-id")
            dialog.locator("input[name='password']").fill("client-secret-" + secrets.token_hex(4))

            # Essentials: required dropdowns with readable names, the token URL.
            dialog.get_by_role("button", name=ESSENTIALS).click()
            expect(dialog.get_by_text("Custom (no preset)", exact=True)).to_be_visible()
            expect(dialog.get_by_text("Client credentials", exact=True)).to_be_visible()
            expect(dialog.get_by_text("HTTP Basic header (client_secret_basic)", exact=True)).to_be_visible()
            expect(dialog.get_by_text("Access token URL (required)", exact=True)).to_be_visible()
            dialog.locator("#element_access_url").fill("http://auth.example.com/oauth/token")  # the form allows it

            # Advanced: the JSON editor refuses invalid JSON before Save.
            save = dialog.get_by_role("button", name="Save")
            dialog.get_by_role("button", name=ADVANCED).click()
            expect(dialog.get_by_text("Token parameters (advanced)", exact=True)).to_be_visible()
            editor = dialog.locator("#element_access_params")
            _paste_into(page, editor, '{"body": {"audience": 1} "query"')
            expect(save).to_be_disabled()
            expect(dialog.get_by_text(re.compile("SyntaxError"))).to_be_visible()
            if os.environ.get("OAUTH_CONNECTOR_UPDATE_SCREENSHOT"):
                dialog.get_by_text("Token parameters (advanced)").scroll_into_view_if_needed()
                (REPO / "docs" / "connection-form.png").write_bytes(page.screenshot())
            _paste_into(page, editor, json.dumps(TOKEN_PARAMS))
            expect(save).to_be_enabled()
            save.click()
            expect(page.get_by_role("status").filter(has_text=re.compile("created", re.I)).last).to_be_visible()

            # Test: the hook names the bad field by its label and requests no token.
            result = press_connection_test(page, server.base_url, conn_id).json()
            toast = page.get_by_role("status").filter(has_text="Invalid settings").last
            expect(toast).to_contain_text("Access token URL (access_url): must use https")
        except Exception:
            save_artifacts(page, "connection-form")
            raise
        page.context.close()

    assert result["status"] is False
    assert result["message"] == (
        "Invalid settings, no token requested: Access token URL (access_url): must use https (plain http is only "
        "accepted for loopback hosts, or with 'allow_insecure_http')"
    )
    # The form stored the JSON field as an object, the dropdowns' values (not their labels) as they are.
    stored = admin_api.get(server.url(f"/api/v2/connections/{conn_id}"), timeout=30).json()
    extra = json.loads(stored["extra"])
    assert extra["access_params"] == TOKEN_PARAMS
    assert (extra["provider"], extra["grant_type"], extra["client_auth"]) == ("custom", "client_credentials", "header")
    assert extra["access_url"] == "http://auth.example.com/oauth/token"


def test_a_preset_chosen_on_the_form_wins_over_the_defaults_the_form_stores(
    server: ApiServer, admin_api: requests.Session
) -> None:
    """
    Notion chosen, only the client ID and secret typed: the form stores every other field's default (client
    credentials, PKCE on, form-encoded), yet the profile is Notion's — authorization code without PKCE, a JSON
    token body — on the OAuth profiles page, in the authorization request it sends the browser to, in the CLI.
    """
    from playwright.sync_api import expect

    conn_id = f"form_notion_{secrets.token_hex(3)}"
    authorize_requests: list[str] = []
    with chromium() as browser:
        page = _signed_in_page(browser, server)
        try:
            page.goto(server.url("/connections"))
            page.get_by_role("button", name="Add Connection").click()
            dialog = page.get_by_role("dialog")
            dialog.locator("input[name='connection_id']").fill(conn_id)
            connection_type = dialog.get_by_role("combobox").first
            connection_type.click(force=True)
            connection_type.fill("OAuth 2.0 API")
            page.keyboard.press("Enter")
            dialog.locator("input[name='login']").fill("notion-client-id")
            dialog.locator("input[name='password']").fill("notion-secret-" + secrets.token_hex(4))
            dialog.get_by_role("button", name=ESSENTIALS).click()
            provider = dialog.get_by_role("combobox", name="Provider", exact=True)
            provider.click(force=True)
            provider.fill("Notion")
            page.keyboard.press("Enter")
            expect(dialog.locator("#element_provider")).to_contain_text("Notion")
            expect(dialog.get_by_text("Client credentials", exact=True)).to_be_visible()  # left alone
            save = dialog.get_by_role("button", name="Save")
            expect(save).to_be_enabled()
            save.click()
            expect(page.get_by_role("status").filter(has_text=re.compile("created", re.I)).last).to_be_visible()

            # The OAuth profiles page: an authorization-code row, its redirect URI, an Authorize button.
            page.goto(server.url("/oauth-connector/"))
            row = page.locator(f"tr[data-conn-id='{conn_id}']")
            expect(row).to_contain_text("authorization code")
            shown_redirect = row.locator("code").first.inner_text()
            page.route(
                "https://api.notion.com/**",
                lambda route: (authorize_requests.append(route.request.url), route.fulfill(body="Notion"))[1],
            )
            row.get_by_role("button", name="Authorize").click()
            expect(page.get_by_text("Notion", exact=True)).to_be_visible()
        except Exception:
            save_artifacts(page, "connection-form-preset")
            raise
        page.context.close()

    # What the form stored: the preset, and every field left alone at the form's default.
    stored = admin_api.get(server.url(f"/api/v2/connections/{conn_id}"), timeout=30).json()
    extra = json.loads(stored["extra"])
    assert extra["provider"] == "notion"
    left_alone = {name: extra.get(name) for name in ("grant_type", "client_auth", "pkce", "access_body")}
    assert left_alone == {
        "grant_type": "client_credentials",
        "client_auth": "header",
        "pkce": True,
        "access_body": "form",
    }
    assert left_alone == {name: FORM_DEFAULTS[name] for name in left_alone}  # what the rule knows as defaults

    # The browser went to Notion's authorization page, without a PKCE challenge, back to the redirect URI shown.
    assert shown_redirect == server.url("/oauth-connector/callback")
    [authorize_url] = authorize_requests
    parts = urlsplit(authorize_url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://api.notion.com/v1/oauth/authorize"
    assert (query["response_type"], query["client_id"], query["owner"]) == ("code", "notion-client-id", "user")
    assert query["redirect_uri"] == shown_redirect
    assert "code_challenge" not in query

    # The CLI, run where the api-server runs: the same grant; and the profile's token request is Notion's.
    env = {**server.env, "PYTHONPATH": str(REPO)}
    out = run_python(server.airflow_home, env, "-m", "airflow_oauth_connector.cli", "status", conn_id, "--json")
    [status] = json.loads(out)  # stdout holds the JSON alone (Airflow's log lines go to stderr)
    assert (status["grant_type"], status["state"]) == ("authorization_code", "not_authorized")
    script = (
        "import json; from airflow_oauth_connector.authorization.repository import load_profile; "
        f"p = load_profile({conn_id!r}); "
        "print(json.dumps([p.grant_type.value, p.client_auth.value, p.pkce, p.access_body.value, p.access_url]))"
    )
    profile = json.loads(run_python(server.airflow_home, env, "-c", script).strip().splitlines()[-1])
    assert profile == ["authorization_code", "header", False, "json", "https://api.notion.com/v1/oauth/token"]


def test_a_json_field_stored_as_text_by_an_earlier_version_stays_valid(
    server: ApiServer, admin_api: requests.Session
) -> None:
    """Edit shows it (as a JSON string), and Test's settings check accepts it: the token request is made."""
    from playwright.sync_api import expect

    conn_id = f"form_text_{secrets.token_hex(3)}"
    body = {
        "connection_id": conn_id,
        "conn_type": "oauth_connector",
        "host": "https://api.example.com/v1",
        "login": "client-id",
        "password": "client-secret",
        "extra": json.dumps(
            {
                "access_url": "http://127.0.0.1:9/oauth/token",  # loopback discard port: refused at once
                "access_params": json.dumps(TOKEN_PARAMS),  # JSON text, as the form of earlier versions saved it
                "retry_max_attempts": 1,
            }
        ),
    }
    resp = admin_api.post(server.url("/api/v2/connections"), json=body, timeout=30)
    assert resp.status_code == 201, resp.text[:300]
    with chromium() as browser:
        page = _signed_in_page(browser, server)
        try:
            result = press_connection_test(page, server.base_url, conn_id).json()
            row = connections_row(page, server.base_url, conn_id)  # a fresh page: the Test's toast is gone
            row.get_by_role("button", name=re.compile("^Edit", re.I)).click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_be_visible()
            dialog.get_by_role("button", name=ADVANCED).click()
            editor = dialog.locator("#element_access_params")
            expect(editor).to_contain_text("audience")
            shown = editor.inner_text()
        except Exception:
            save_artifacts(page, "connection-form-edit")
            raise
        page.context.close()
    assert result["status"] is False
    assert not result["message"].startswith("Invalid settings"), result["message"]
    assert "127.0.0.1:9" in result["message"], result["message"]  # the settings passed; the token URL is down
    # The JSON editor shows the stored text as a JSON string; saved unchanged it stays text, which the profile
    # parses like an object (pasting the object itself converts it).
    text = shown.split("\n", 1)[-1].replace("\xa0", " ").strip()  # after the line number; Monaco renders nbsp
    assert json.loads(text) == json.dumps(TOKEN_PARAMS)
