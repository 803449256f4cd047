"""The native OAuth profiles page inside Airflow's UI (``react_apps``), in a real ``airflow api-server`` with the
real DOT authorization server and a real browser (Playwright + Debian's Chromium).

The page is opened from Airflow's Admin menu; profiles are added and edited through its guided form (which
saves through Airflow's own REST API with the signed-in user's permissions), tested, authorized at the
provider and back, and their tokens forgotten. Its JSON API is probed for sign-in, permission, CSRF and
framing rules. Needs the built bundle (``scripts/build_ui.sh``; ``test.sh`` and CI build it).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_oauth_connector.fields import form_schema
from airflow_oauth_connector.plugins import bundle
from tests.support.airflow_server import ApiServer, serving_airflow
from tests.support.browser import browser_unavailable, chromium, save_artifacts, sign_in
from tests.support.connections import connection

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "/oauth-connector"
NATIVE = "/plugin/oauth-profiles"
LABELS = {field["name"]: field["label"] for field in form_schema()["fields"]}
GRANTS = {grant["value"]: grant["label"] for grant in form_schema()["grant_types"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    if not bundle.available():
        pytest.skip("the native page's bundle is not built (scripts/build_ui.sh needs npm)")
    with serving_airflow(
        tmp_path_factory.mktemp("native_page_airflow_home"), users={"admin": "ADMIN", "viewer": "VIEWER"}
    ) as api_server:
        yield api_server


def _create(server: ApiServer, api: requests.Session, body: dict[str, Any]) -> None:
    resp = api.post(server.url("/api/v2/connections"), json=body, timeout=30)
    assert resp.status_code == 201, resp.text[:500]


def _cc_body(auth_server: Any, conn_id: str, secret: str | None = None) -> dict[str, Any]:
    body = connection(auth_server, "cc", secret=secret) if secret else connection(auth_server, "cc", scope="read")
    return {**body, "connection_id": conn_id, "extra": json.dumps(body["extra"])}


def _ac_body(auth_server: Any, conn_id: str) -> dict[str, Any]:
    client = auth_server.client("ac")
    extra = {
        "grant_type": "authorization_code",
        "access_url": auth_server.token_url,
        "authorize_url": auth_server.authorize_url,
        "scope": "read write",
    }
    return {
        "connection_id": conn_id,
        "conn_type": "oauth_connector",
        "host": auth_server.api_base,
        "login": client.client_id,
        "password": client.client_secret,
        "extra": json.dumps(extra),
    }


def _stored(server: ApiServer, api: requests.Session, conn_id: str) -> dict[str, Any]:
    resp = api.get(server.url(f"/api/v2/connections/{conn_id}"), timeout=30)
    assert resp.status_code == 200, resp.text[:300]
    return dict(resp.json())


# ---------------------------------------------------------------------------------------- registration
def test_plugin_registers_the_native_page_and_serves_its_bundle(server: ApiServer, admin_api: requests.Session) -> None:
    plugins = admin_api.get(server.url("/api/v2/plugins"), timeout=30).json()["plugins"]
    (ours,) = [p for p in plugins if p["name"] == "oauth_connector"]
    (app,) = ours["react_apps"]
    assert app["url_route"] == "oauth-profiles"
    assert app["category"] == "admin"
    assert app["destination"] == "nav"
    assert ours["external_views"] == []  # one Admin-menu entry: the native page
    script = requests.get(server.url(app["bundle_url"]), timeout=30)
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "AirflowPlugin" in script.text[:400]  # the UMD wrapper registers the component for the host


# --------------------------------------------------------------------------------------------- browser
class NativePage:
    """The signed-in admin's browser tab on Airflow, with the helpers the steps below share."""

    def __init__(self, page: Any, server: ApiServer) -> None:
        self.page = page
        self.server = server

    def sign_in(self) -> None:
        """Sign in on Airflow's login page and wait for Airflow's home page (its Admin menu)."""
        from playwright.sync_api import expect

        sign_in(self.page, self.server.url("/"), "admin", self.server.passwords["admin"])
        expect(self.page.get_by_role("button", name="Admin")).to_be_visible(timeout=60_000)

    def open_from_admin_menu(self) -> None:
        from playwright.sync_api import expect

        self.page.get_by_role("button", name="Admin").click()
        self.page.get_by_role("menuitem", name="OAuth profiles").click()
        expect(self.page).to_have_url(self.server.url(NATIVE))  # a route of Airflow's own UI (no page load)
        self.page.get_by_role("heading", name="OAuth profiles").wait_for()

    def row(self, conn_id: str) -> Any:
        return self.page.locator(f"tr[data-conn-id='{conn_id}']")

    def notice(self) -> Any:
        return self.page.get_by_test_id("notice")

    def form(self) -> Any:
        return self.page.get_by_test_id("profile-form")

    def fill_essentials(self, conn_id: str, auth_server: Any, client: Any, *, scope: str) -> None:
        """The Add form's essentials: connection id, API base URL, client id and secret, token URL, scope."""
        self.form().get_by_label(re.compile("^Connection ID")).fill(conn_id)
        self.field("host").fill(auth_server.api_base)
        self.field("login").fill(client.client_id)
        self.field("password").fill(client.client_secret)
        self.field("access_url").fill(auth_server.token_url)
        self.field("scope").fill(scope)

    def field(self, name: str) -> Any:
        """A form field by its label (a required field's label ends in the required marker)."""
        return self.form().get_by_label(re.compile(rf"^{re.escape(LABELS[name])}\s*\*?$"))


def _screenshot(page: Any, tmp_path: Path, name: str) -> None:
    shot = page.screenshot(full_page=False)
    (tmp_path / name).write_bytes(shot)
    if os.environ.get("OAUTH_CONNECTOR_UPDATE_SCREENSHOT"):  # refresh the README's pictures on request
        (REPO / "docs").mkdir(exist_ok=True)
        (REPO / "docs" / name).write_bytes(shot)


def test_native_page_adds_tests_authorizes_edits_and_forgets(
    server: ApiServer, admin_api: requests.Session, auth_server: Any, tmp_path: Path
) -> None:
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)

    suffix = secrets.token_hex(3)
    added, wrong, code_flow = f"partner_crm_{suffix}", f"partner_crm_wrong_{suffix}", f"calendar_api_{suffix}"
    _create(server, admin_api, _cc_body(auth_server, wrong, secret="not-the-secret"))
    cc = auth_server.client("cc")
    timings: dict[str, float] = {}
    started = time.monotonic()
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="light")
        context.set_default_timeout(30_000)
        native = NativePage(context.new_page(), server)
        page = native.page
        try:
            _run_native_flow(
                native, server, admin_api, auth_server, tmp_path, timings, started, added, wrong, code_flow
            )
        except Exception:
            save_artifacts(page, "native-page-failure")
            raise
        html = page.content()
        context.close()
    timings["browser total"] = time.monotonic() - started
    assert cc.client_secret not in html
    assert auth_server.client("ac").client_secret not in html
    assert json.loads(_stored(server, admin_api, added)["extra"])["scope"] == "read write"
    assert "refresh_token" not in json.loads(_stored(server, admin_api, code_flow)["extra"])
    print(f"\nnative page timings: { {k: round(v, 2) for k, v in timings.items()} }")


def _run_native_flow(
    native: NativePage,
    server: ApiServer,
    admin_api: requests.Session,
    auth_server: Any,
    tmp_path: Path,
    timings: dict[str, float],
    started: float,
    added: str,
    wrong: str,
    code_flow: str,
) -> None:
    from playwright.sync_api import expect

    page = native.page
    cc = auth_server.client("cc")
    native.sign_in()
    native.open_from_admin_menu()  # inside Airflow: same tab, Airflow's navigation around it
    expect(page.get_by_test_id("nav-sidebar")).to_be_visible()
    expect(native.row(wrong).get_by_test_id("state")).to_have_text("not tested yet")  # honest: no request yet
    timings["sign-in and menu"] = time.monotonic() - started

    # Add OAuth: provider first, then the grant, then only that grant's fields.
    page.get_by_role("button", name="Add OAuth").click()
    form = native.form()
    form.get_by_role("button", name="Custom OAuth 2.0 API").click()
    form.get_by_role("button", name=GRANTS["client_credentials"]).click()
    expect(native.field("authorize_url")).to_have_count(0)  # an authorization-code field: not shown
    native.fill_essentials(added, auth_server, cc, scope="read")
    form.get_by_role("button", name=re.compile("Advanced options")).click()
    native.field("access_params").fill('{"body": {"audience": "crm"}, "query": {"x": "1"},, }')
    form.get_by_role("button", name="Save connection").click()
    problems = form.get_by_test_id("form-problems")
    expect(problems).to_contain_text("Token parameters (access_params): not valid JSON near character")
    assert _connection_missing(server, admin_api, added)  # refused before anything was saved
    _screenshot(page, tmp_path, "oauth-profiles-add-form.png")
    native.field("access_params").fill('{"body": {"audience": "crm"}}')
    form.get_by_role("button", name="Save connection").click()
    expect(native.notice()).to_contain_text(f"Connection '{added}' added")
    expect(form).to_have_count(0)
    timings["add through the form"] = time.monotonic() - started - sum(timings.values())
    stored = _stored(server, admin_api, added)
    assert stored["conn_type"] == "oauth_connector"
    assert json.loads(stored["extra"])["access_params"] == '{"body": {"audience": "crm"}}'

    # Test: success for the new profile, invalid_client for the wrong secret.
    native.row(added).get_by_role("button", name="Test").click()
    expect(native.notice()).to_contain_text(f"Test of '{added}' passed")
    expect(native.notice()).to_contain_text("issued a Bearer token")
    expect(native.row(added).get_by_test_id("state")).to_have_text("ready")
    native.row(wrong).get_by_role("button", name="Test").click()
    expect(native.notice()).to_contain_text(f"Test of '{wrong}' failed")
    expect(native.notice()).to_contain_text("invalid_client")
    failure = native.row(wrong).get_by_test_id("last-failure")  # honest status: the failure, and where
    expect(failure).to_contain_text("invalid_client")
    expect(failure).to_contain_text("test")
    timings["two tests"] = time.monotonic() - started - sum(timings.values())

    # An authorization-code profile through the form: its own fields appear, Authorization URL is required.
    ac = auth_server.client("ac")
    page.get_by_role("button", name="Add OAuth").click()
    form = native.form()
    form.get_by_role("button", name="Custom OAuth 2.0 API").click()
    form.get_by_role("button", name=GRANTS["authorization_code"]).click()
    # openid: the request carries a nonce, kept with the pending authorization; django-oauth-toolkit's ID Token
    # must carry it back for the exchange to be kept (OIDC Core 3.1.3.7).
    native.fill_essentials(code_flow, auth_server, ac, scope="openid read write")
    form.get_by_role("button", name="Save connection").click()
    expect(form.get_by_test_id("form-problems")).to_contain_text(
        f"{LABELS['authorize_url']} (authorize_url): required for {GRANTS['authorization_code']}"
    )
    native.field("authorize_url").fill(auth_server.authorize_url)
    form.get_by_role("button", name="Save connection").click()
    expect(native.notice()).to_contain_text(f"Connection '{code_flow}' added")
    expect(native.row(code_flow).get_by_test_id("state")).to_have_text("not authorized")

    # Authorize: the top window goes to the provider and comes back to this page inside Airflow.
    row = native.row(code_flow)
    expect(row).to_contain_text(server.url(PLUGIN + "/callback"))  # the redirect URI to register
    row.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{auth_server.base_url}/**")
    page.locator("input[name='username']").fill(auth_server.username)
    page.locator("input[name='password']").fill(auth_server.password)
    page.locator("input[type='submit'][value='Sign in']").click()
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(re.escape(server.url(NATIVE))))
    expect(native.notice()).to_contain_text(f"Connection '{code_flow}' is authorized")
    assert "oauth_outcome" not in page.url  # the address bar is clean again
    expect(page.get_by_test_id("nav-sidebar")).to_be_visible()
    row = native.row(code_flow)
    expect(row.get_by_test_id("state")).to_have_text("authorized")
    expect(row.get_by_role("button", name="Re-authorize")).to_be_visible()
    expect(row).to_contain_text("read write")
    timings["authorize at the provider"] = time.monotonic() - started - sum(timings.values())
    _screenshot(page, tmp_path, "oauth-profiles-native.png")

    # Edit: the same form, prefilled; the stored secret stays unless a new one is typed.
    native.row(added).get_by_role("button", name="Edit").click()
    form = native.form()
    expect(form.get_by_label(re.compile("^Connection ID"))).to_have_value(added)
    expect(native.field("access_url")).to_have_value(auth_server.token_url)
    native.field("scope").fill("read write")
    form.get_by_role("button", name="Save", exact=True).click()
    expect(native.notice()).to_contain_text(f"Connection '{added}' saved")
    native.row(added).get_by_role("button", name="Test").click()
    expect(native.notice()).to_contain_text(f"Test of '{added}' passed")  # the secret survived the edit

    # Forget tokens asks first.
    native.row(code_flow).get_by_role("button", name="Forget tokens").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text(f"'{code_flow}'")
    dialog.get_by_role("button", name="Forget tokens").click()
    expect(native.notice()).to_contain_text(f"Tokens of '{code_flow}' removed")
    expect(native.row(code_flow).get_by_test_id("state")).to_have_text("not authorized")
    expect(native.row(code_flow).get_by_role("button", name="Authorize", exact=True)).to_be_visible()

    # Dark mode follows Airflow's (its `dark` class on <html>, here from the system preference).
    heading = page.get_by_role("heading", name="OAuth profiles")
    light = heading.evaluate("e => getComputedStyle(e).color")
    assert _luminance(light) < 0.3
    page.emulate_media(color_scheme="dark")
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    expect(heading).not_to_have_css("color", light)
    assert _luminance(heading.evaluate("e => getComputedStyle(e).color")) > 0.7


def _luminance(css_color: str) -> float:
    """Relative brightness (0 black .. 1 white) of a computed ``rgb(r, g, b)`` colour."""
    red, green, blue = (int(part) for part in re.findall(r"\d+", css_color)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


# ---------------------------------------------------------------------------------------------- its API
API_GETS = ["/api/session", "/api/profiles", "/api/form"]
API_POSTS = [
    "/api/validate",
    "/api/profiles/{conn}/test",
    "/api/profiles/{conn}/forget",
    "/api/profiles/{conn}/authorize",
]


def test_api_refuses_anonymous_viewers_and_forged_csrf(
    server: ApiServer, admin_api: requests.Session, auth_server: Any
) -> None:
    conn_id = f"native_api_{secrets.token_hex(3)}"
    _create(server, admin_api, _ac_body(auth_server, conn_id))
    admin = server.session("admin")
    session = admin.get(server.url(PLUGIN + "/api/session"), timeout=30)
    assert session.status_code == 200
    token = session.json()["csrf_token"]
    viewer = server.session("viewer")
    viewer.cookies.update(admin.cookies)
    for path in API_GETS + API_POSTS:
        url = server.url(PLUGIN + path.format(conn=conn_id))
        method = "POST" if path in API_POSTS else "GET"
        anonymous = requests.request(method, url, json={}, timeout=30)
        assert anonymous.status_code == 401, (path, anonymous.text[:200])
        assert anonymous.headers["content-type"].startswith("application/json")
        refused = viewer.request(method, url, json={}, headers={"X-CSRF-Token": token}, timeout=30)
        assert refused.status_code == 403, (path, refused.text[:200])
        for resp in (anonymous, refused):
            assert resp.headers["X-Frame-Options"] == "DENY"
            assert resp.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
        if method == "POST":
            forged = admin.post(url, json={}, headers={"X-CSRF-Token": token + "x"}, timeout=30)
            assert forged.status_code == 403, (path, forged.text[:200])
            assert "CSRF" in forged.json()["detail"]
    assert "refresh_token" not in json.loads(_stored(server, admin_api, conn_id)["extra"])


def _connection_missing(server: ApiServer, api: requests.Session, conn_id: str) -> bool:
    return api.get(server.url(f"/api/v2/connections/{conn_id}"), timeout=30).status_code == 404


# ----------------------------------------------------------------------- a failed task, shown on the page
def _run_dag_test(server: ApiServer, conn_id: str) -> dict[str, str]:
    """``dag.test()`` of tests/dags/oauth_status_checks.py in a process of its own on the api-server's
    AIRFLOW_HOME (its metadata DB and file token store), like a task on that deployment."""
    script = textwrap.dedent(
        f"""
        import json
        from tests.support.airflow_compat import DagBag, wait_for_in_process_api_startup
        wait_for_in_process_api_startup()
        bag = DagBag({str(REPO / "tests" / "dags" / "oauth_status_checks.py")!r})
        assert not bag.import_errors, bag.import_errors
        run = bag.get_dag("oauth_status_checks").test(run_conf={{"conn_id": {conn_id!r}}})
        print(json.dumps({{ti.task_id: ti.state for ti in run.get_task_instances()}}))
        """
    )
    env = {**server.env, "PYTHONPATH": str(REPO), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "tests" / "dags")}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=str(REPO), capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-3000:]}"
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_a_task_failing_with_invalid_client_shows_on_the_page_with_its_task_id(
    server: ApiServer, admin_api: requests.Session, auth_server: Any
) -> None:
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import expect

    conn_id = f"sync_crm_{secrets.token_hex(3)}"
    _create(server, admin_api, _cc_body(auth_server, conn_id, secret="not-the-secret"))
    assert _run_dag_test(server, conn_id) == {"call": "failed"}
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.set_default_timeout(30_000)
        native = NativePage(context.new_page(), server)
        native.sign_in()
        native.page.goto(server.url(NATIVE))
        row = native.row(conn_id)
        expect(row.get_by_test_id("state")).to_have_text("failing")
        failure = row.get_by_test_id("last-failure")
        expect(failure).to_contain_text("invalid_client")
        expect(failure).to_contain_text("in oauth_status_checks/call/try 1")  # the task that failed
        expect(failure).to_contain_text(conn_id)
        html = native.page.content()
        context.close()
    assert auth_server.client("cc").client_secret not in html


# ------------------------------------------------------------------------------- a provider preset first
def test_add_starts_with_the_provider_picker_and_a_preset_fills_the_rest(
    server: ApiServer, admin_api: requests.Session
) -> None:
    """Microsoft's preset: two grant types offered, its `tenant` parameter asked for, its URLs not required."""
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import expect

    conn_id = f"graph_{secrets.token_hex(3)}"
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.set_default_timeout(30_000)
        native = NativePage(context.new_page(), server)
        native.sign_in()
        native.page.goto(server.url(NATIVE))
        native.page.get_by_role("button", name="Add OAuth").click()
        form = native.form()
        form.get_by_label("Search providers").fill("microsoft")
        form.get_by_role("button", name="Microsoft Entra ID / Graph").click()
        grants = form.get_by_role("button", name=re.compile("|".join(map(re.escape, GRANTS.values()))))
        expect(grants).to_have_count(2)  # the preset's grant types only
        form.get_by_role("button", name=GRANTS["client_credentials"]).click()
        expect(form).to_contain_text("Provider: Microsoft Entra ID / Graph")
        form.get_by_label(re.compile("^Connection ID")).fill(conn_id)
        native.field("login").fill("00000000-0000-0000-0000-000000000000")
        native.field("password").fill("graph-client-secret-value")
        expect(native.field("access_url")).to_have_attribute("placeholder", "filled by the provider preset")
        form.get_by_role("button", name="Save connection").click()
        expect(form.get_by_test_id("form-problems")).to_contain_text(
            "Provider parameters (provider_params): Microsoft Entra ID / Graph needs tenant"
        )
        form.get_by_label(re.compile("^tenant")).fill("contoso.onmicrosoft.com")
        form.get_by_role("button", name="Save connection").click()
        expect(native.notice()).to_contain_text(f"Connection '{conn_id}' added")
        expect(native.row(conn_id)).to_contain_text("client credentials")
        context.close()
    stored = _stored(server, admin_api, conn_id)
    extra = json.loads(stored["extra"])
    assert extra["provider"] == "microsoft"
    assert json.loads(extra["provider_params"]) == {"tenant": "contoso.onmicrosoft.com"}
    assert extra["grant_type"] == "client_credentials"
    assert "access_url" not in extra  # the preset's value applies
    assert stored["host"] is None
