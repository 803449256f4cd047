"""The "OAuth profiles" plugin in a real Airflow: a real ``airflow api-server`` (SimpleAuthManager with an admin
and a viewer, a Fernet key), the real DOT authorization server, and a real browser (Playwright + Chromium).

One AIRFLOW_HOME and one api-server serve the module; every test uses connections of its own.
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
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
import requests

from airflow_oauth_connector.plugins import bundle
from tests.support.airflow_server import ApiServer, run_python, serving_airflow
from tests.support.browser import browser_unavailable, chromium, press_connection_test, save_artifacts, sign_in
from tests.support.connections import connection

# an Airflow api-server and a browser start in the first test: longer than the default per-test timeout
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "/oauth-connector"
AUTHORIZATION_KEYS = {"refresh_token", "access_token", "access_token_expires_at", "authorized_at", "authorized_scope"}


# ------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with serving_airflow(
        tmp_path_factory.mktemp("plugin_airflow_home"), users={"admin": "ADMIN", "viewer": "VIEWER"}
    ) as api_server:
        yield api_server


def _add_connection(server: ApiServer, api: requests.Session, auth_server: Any, conn_id: str, **extra: Any) -> None:
    client = auth_server.client("ac")
    body = {
        "connection_id": conn_id,
        "conn_type": "oauth_connector",
        "host": auth_server.api_base,
        "login": client.client_id,
        "password": client.client_secret,
        "extra": json.dumps(
            {
                "grant_type": "authorization_code",
                "access_url": auth_server.token_url,
                "authorize_url": auth_server.authorize_url,
                "scope": "read write",
                **extra,
            }
        ),
    }
    resp = api.post(server.url("/api/v2/connections"), json=body, timeout=30)
    assert resp.status_code == 201, resp.text[:500]


@pytest.fixture
def ac_connection(server: ApiServer, admin_api: requests.Session, auth_server: Any) -> str:
    conn_id = f"oauth_it_ac_{secrets.token_hex(4)}"
    _add_connection(server, admin_api, auth_server, conn_id)
    return conn_id


class PageSession:
    """A signed-in user's HTTP session on the plugin (Bearer JWT), with the page's CSRF token."""

    def __init__(self, server: ApiServer, username: str) -> None:
        self.server = server
        self.http = server.session(username)
        page = self.http.get(server.url(PLUGIN + "/"), timeout=30)
        assert page.status_code == 200, page.text[:500]
        self.page = page.text
        self.csrf = _csrf(page.text)

    def authorize(self, conn_id: str) -> str:
        """Press Authorize: the 303 Location (the provider's authorization URL)."""
        resp = self.http.post(
            self.server.url(f"{PLUGIN}/profiles/{conn_id}/authorize"),
            data={"csrf_token": self.csrf},
            allow_redirects=False,
            timeout=30,
        )
        assert resp.status_code == 303, resp.text[:500]
        return resp.headers["Location"]

    def callback(self, url: str) -> requests.Response:
        """Follow the provider's redirect back to the plugin's callback (on this server)."""
        parts = urlsplit(url)
        assert parts.path == PLUGIN + "/callback", url
        return self.http.get(self.server.url(urlunsplit(("", "", parts.path, parts.query, ""))), timeout=60)


def _csrf(html: str) -> str:
    match = re.search(r"name='csrf_token' value='([^']+)'", html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _stored_extra(server: ApiServer, api: requests.Session, conn_id: str) -> dict[str, Any]:
    resp = api.get(server.url(f"/api/v2/connections/{conn_id}"), timeout=30)
    assert resp.status_code == 200, resp.text[:300]
    return dict(json.loads(resp.json()["extra"] or "{}"))


def _assert_nothing_stored(server: ApiServer, api: requests.Session, conn_id: str) -> None:
    extra = _stored_extra(server, api, conn_id)
    assert not AUTHORIZATION_KEYS & set(extra), f"authorization data stored: {sorted(AUTHORIZATION_KEYS & set(extra))}"
    page = PageSession(server, "admin").page
    row = _row_html(page, conn_id)
    assert "state-not_authorized" in row, row


def _row_html(page: str, conn_id: str) -> str:
    match = re.search(rf"<tr data-conn-id='{re.escape(conn_id)}'>.*?</tr>", page, re.S)
    assert match, f"{conn_id} not listed"
    return match.group(0)


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(params)
    from urllib.parse import urlencode

    return urlunsplit(parts._replace(query=urlencode(query)))


def _code_grants(auth_server: Any) -> int:
    return int(auth_server.stats()["token_requests"]["by_grant_type"].get("authorization_code", 0))


# ------------------------------------------------------------------------------- 1. the plugin, registered
def test_plugin_import_is_light_and_lazy() -> None:
    """Every task process imports the plugin module: it must not pull in the web app (FastAPI & co.)."""
    script = textwrap.dedent(
        """
        import json, sys, time
        import airflow.sdk
        before = set(sys.modules)
        start = time.perf_counter()
        import airflow_oauth_connector.plugins as plugin
        elapsed = (time.perf_counter() - start) * 1000
        new = sorted(set(sys.modules) - before)
        print(json.dumps({"ms": elapsed, "new": new, "name": plugin.OAuthConnectorPlugin.name}))
        """
    )
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    heavy = ("fastapi", "starlette", "jinja2", "airflow.api_fastapi", "airflow_oauth_connector.plugins.app", "pydantic")
    for run in runs:
        offenders = [m for m in run["new"] if m.split(".")[0] in heavy or m.startswith(heavy)]
        assert not offenders, f"importing the plugin module imported {offenders}"
        assert run["name"] == "oauth_connector"
    best = min(run["ms"] for run in runs)
    print(f"\nplugin module import over `import airflow.sdk`: best of 3 = {best:.2f} ms; modules: {runs[0]['new']}")
    assert best <= 5.0, f"importing the plugin module took {best:.2f} ms (goal: <= 5 ms)"


def test_plugin_is_registered_with_menu_entry_and_app(server: ApiServer, admin_api: requests.Session) -> None:
    resp = admin_api.get(server.url("/api/v2/plugins"), timeout=30)
    assert resp.status_code == 200, resp.text[:300]
    ours = [p for p in resp.json()["plugins"] if p["name"] == "oauth_connector"]
    assert len(ours) == 1
    plugin = ours[0]
    assert plugin["source"].startswith("airflow-oauth-connector==")
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == [PLUGIN]
    if bundle.available():  # the native page (tests/integration/test_native_page.py); no second menu entry
        assert plugin["external_views"] == []
        assert [a["url_route"] for a in plugin["react_apps"]] == ["oauth-profiles"]
    else:  # no bundle built: the classic page is the menu entry
        (view,) = plugin["external_views"]
        assert view["name"] == "OAuth profiles"
        assert view["category"] == "admin"
        assert view["href"] == PLUGIN + "/"
        assert view["url_route"] is None  # a page of its own: providers refuse to be framed
        assert plugin["react_apps"] == []
    errors = admin_api.get(server.url("/api/v2/plugins/importErrors"), timeout=30).json()
    assert errors["total_entries"] == 0, errors


# ------------------------------------------------- 2. a real browser (first: the screenshot shows only its rows)
def _run_python(server: ApiServer, script: str, timeout: float = 120) -> str:
    """Run ``script`` with the api-server's AIRFLOW_HOME, DB and keys (server context: DB connections)."""
    env = {**server.env, "_AIRFLOW_PROCESS_CONTEXT": "server", "PYTHONPATH": str(REPO)}
    return run_python(server.airflow_home, env, "-c", script, timeout=timeout)


def test_browser_signs_in_authorizes_and_a_hook_uses_the_refresh_token(
    server: ApiServer, admin_api: requests.Session, auth_server: Any, tmp_path: Path
) -> None:
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import expect

    conn_id = "oauth_demo_ac"
    _add_connection(server, admin_api, auth_server, conn_id)
    _add_connection(server, admin_api, auth_server, "calendar_api")
    _add_connection(server, admin_api, auth_server, "partner_crm_cc", grant_type="client_credentials")
    timings: dict[str, float] = {}
    started = time.monotonic()
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1360, "height": 640}, color_scheme="light")
        context.set_default_timeout(30_000)
        page = context.new_page()

        # Sign in to Airflow (SimpleAuthManager's login page), then the classic page: the Admin menu's entry
        # when no bundle was built (it opens a tab), else at its own URL (the menu goes to the native page).
        sign_in(page, server.url("/"), "admin", server.passwords["admin"])
        if bundle.available():
            expect(page.get_by_role("button", name="Admin")).to_be_visible(timeout=60_000)
            profiles = context.new_page()
            profiles.goto(server.url(PLUGIN + "/"))
        else:
            page.get_by_role("button", name="Admin").click()
            with context.expect_page() as opened:
                page.get_by_role("menuitem", name="OAuth profiles").click()
            profiles = opened.value
            profiles.wait_for_load_state()
        assert profiles.url == server.url(PLUGIN + "/")
        timings["sign-in and menu"] = time.monotonic() - started

        row = profiles.locator(f"tr[data-conn-id='{conn_id}']")
        expect(row.locator(".state")).to_have_text("not authorized")
        expect(row).to_contain_text(server.url(PLUGIN + "/callback"))  # the redirect URI to register
        expect(profiles.locator("tr[data-conn-id='partner_crm_cc'] button", has_text="Authorize")).to_have_count(0)

        # Authorize: the provider's login and consent pages, then back to the plugin's callback.
        row.get_by_role("button", name="Authorize").click()
        profiles.wait_for_url(f"{auth_server.base_url}/**")
        profiles.locator("input[name='username']").fill(auth_server.username)
        profiles.locator("input[name='password']").fill(auth_server.password)
        profiles.locator("input[type='submit'][value='Sign in']").click()
        profiles.get_by_role("button", name="Authorize").click()
        profiles.wait_for_url(server.url(PLUGIN + "/callback") + "?**")
        expect(profiles.locator(".notice-success")).to_contain_text(f"Connection '{conn_id}' is authorized")
        timings["authorize at the provider"] = time.monotonic() - started - sum(timings.values())

        profiles.get_by_role("link", name="Back to OAuth profiles").click()
        row = profiles.locator(f"tr[data-conn-id='{conn_id}']")
        expect(row.locator(".state")).to_have_text("authorized")
        expect(row).to_contain_text("read write")

        # Test: fetch a token now; the page shows the hook's message.
        row.get_by_role("button", name="Test").click()
        expect(profiles.locator(".notice-success")).to_contain_text(f"Test of '{conn_id}' passed")
        expect(profiles.locator(".notice-success")).to_contain_text("issued a Bearer token")
        html = profiles.content()
        screenshot = profiles.screenshot(full_page=True)
        (tmp_path / "oauth-profiles.png").write_bytes(screenshot)
        if os.environ.get("OAUTH_CONNECTOR_UPDATE_SCREENSHOT"):  # refresh the README's picture on request
            (REPO / "docs").mkdir(exist_ok=True)
            (REPO / "docs" / "oauth-profiles.png").write_bytes(screenshot)
        context.close()
    timings["browser total"] = time.monotonic() - started
    client_secret = auth_server.client("ac").client_secret
    assert client_secret not in html
    assert _stored_extra(server, admin_api, conn_id)["refresh_token"] == "***"

    # A hook in another process (same AIRFLOW_HOME and DB, like a task) calls the API with the stored
    # authorization: it renews the access token from the refresh token and calls /whoami.
    grants = auth_server.stats()["token_requests"]["by_grant_type"].get("refresh_token", 0)
    out = _run_python(
        server,
        textwrap.dedent(
            f"""
            import json
            from airflow_oauth_connector.hooks import OAuthConnectorHook
            from airflow_oauth_connector.store.factory import store_for
            probe = OAuthConnectorHook({conn_id!r})
            hook = OAuthConnectorHook({conn_id!r}, token_store=store_for(probe.profile))
            hook.tokens.renew()
            print(json.dumps(hook.run("whoami").json()))
            """
        ),
    )
    whoami = json.loads(out.strip().splitlines()[-1])
    assert whoami["user"] == auth_server.username
    assert auth_server.stats()["token_requests"]["by_grant_type"].get("refresh_token", 0) == grants + 1
    print(f"\nbrowser flow timings: { {k: round(v, 2) for k, v in timings.items()} }")


# -------------------------------------------------------------------------------------- 3. access control
ROUTES = [
    ("GET", PLUGIN + "/"),
    ("POST", PLUGIN + "/profiles/{conn}/authorize"),
    ("GET", PLUGIN + "/callback?state=x&code=y"),
    ("POST", PLUGIN + "/profiles/{conn}/test"),
    ("POST", PLUGIN + "/profiles/{conn}/forget"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_gets_401(server: ApiServer, ac_connection: str, method: str, path: str) -> None:
    resp = requests.request(method, server.url(path.format(conn=ac_connection)), allow_redirects=False, timeout=30)
    assert resp.status_code == 401, resp.text[:300]
    assert "Sign in" in resp.text
    assert resp.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_viewer_gets_403(
    server: ApiServer, admin_api: requests.Session, ac_connection: str, method: str, path: str
) -> None:
    admin = PageSession(server, "admin")
    viewer = server.session("viewer")
    url = server.url(path.format(conn=ac_connection))
    if "callback" in path:  # a real pending state of the admin's: the viewer may not complete it
        state = parse_qs(urlsplit(admin.authorize(ac_connection)).query)["state"][0]
        url = server.url(f"{PLUGIN}/callback?state={state}&code=some-code")
    # Even with a valid CSRF pair copied from the admin's session, the viewer is refused.
    viewer.cookies.update(admin.http.cookies)
    resp = viewer.request(method, url, data={"csrf_token": admin.csrf}, allow_redirects=False, timeout=30)
    assert resp.status_code == 403, resp.text[:300]
    _assert_nothing_stored(server, admin_api, ac_connection)


def test_post_without_valid_csrf_token_is_refused(
    server: ApiServer, admin_api: requests.Session, ac_connection: str
) -> None:
    admin = PageSession(server, "admin")
    url = server.url(f"{PLUGIN}/profiles/{ac_connection}/authorize")
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": admin.csrf + "x"}):
        resp = admin.http.post(url, data=data, allow_redirects=False, timeout=30)
        assert resp.status_code == 403, resp.text[:300]
        assert "CSRF" in resp.text
    # The right token without the cookie it is bound to (another browser) fails too.
    bare = server.session("admin")
    resp = bare.post(url, data={"csrf_token": admin.csrf}, allow_redirects=False, timeout=30)
    assert resp.status_code == 403
    _assert_nothing_stored(server, admin_api, ac_connection)


# ------------------------------------------------------------------- 4. the authorization request and state
def test_authorize_redirects_with_pkce_and_state(server: ApiServer, auth_server: Any, ac_connection: str) -> None:
    location = PageSession(server, "admin").authorize(ac_connection)
    assert location.startswith(auth_server.authorize_url + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == auth_server.client("ac").client_id
    assert query["redirect_uri"] == server.url(PLUGIN + "/callback")
    assert query["scope"] == "read write"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32
    assert "code_verifier" not in location


def test_tampered_state_is_rejected_then_the_real_one_works_once(
    server: ApiServer, admin_api: requests.Session, auth_server: Any, ac_connection: str
) -> None:
    admin = PageSession(server, "admin")
    back = auth_server.authorize_url_flow(admin.authorize(ac_connection))
    query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    code, state = query["code"], query["state"]
    grants_before = _code_grants(auth_server)

    tampered = state[:-1] + ("A" if state[-1] != "A" else "B")
    resp = admin.callback(_with_query(back, state=tampered))
    assert resp.status_code == 400, resp.text[:300]
    assert "unknown or was altered" in resp.text
    missing = admin.callback(_with_query(back, state=""))
    assert missing.status_code == 400
    assert _code_grants(auth_server) == grants_before  # no exchange was attempted
    _assert_nothing_stored(server, admin_api, ac_connection)

    ok = admin.callback(back)
    assert ok.status_code == 200, ok.text[:500]
    assert f"Connection &#x27;{ac_connection}&#x27; is authorized" in ok.text
    assert _code_grants(auth_server) == grants_before + 1
    extra = _stored_extra(server, admin_api, ac_connection)
    assert extra["refresh_token"] == "***"  # stored, and masked by Airflow like every secret
    assert "state-authorized" in _row_html(PageSession(server, "admin").page, ac_connection)

    reused = admin.callback(back)
    assert reused.status_code == 400, reused.text[:300]
    assert "already used" in reused.text
    assert _code_grants(auth_server) == grants_before + 1  # the replay exchanged nothing

    client_secret = auth_server.client("ac").client_secret
    for text in (ok.text, reused.text, PageSession(server, "admin").page, server.log_text()):
        assert code not in text
        assert client_secret not in text


def test_provider_error_access_denied_stores_nothing(
    server: ApiServer, admin_api: requests.Session, auth_server: Any, ac_connection: str
) -> None:
    admin = PageSession(server, "admin")
    back = auth_server.authorize_url_flow(admin.authorize(ac_connection), allow=False)  # "Cancel" at the provider
    assert "error=access_denied" in back
    grants_before = _code_grants(auth_server)
    resp = admin.callback(back)
    assert resp.status_code == 400, resp.text[:300]
    assert "access_denied" in resp.text
    assert "Nothing was stored" in resp.text
    assert _code_grants(auth_server) == grants_before
    _assert_nothing_stored(server, admin_api, ac_connection)
    again = admin.callback(back)  # the state was consumed by the error answer
    assert again.status_code == 400
    assert "already used" in again.text


def test_failed_code_exchange_stores_nothing(
    server: ApiServer, admin_api: requests.Session, auth_server: Any, ac_connection: str
) -> None:
    admin = PageSession(server, "admin")
    back = auth_server.authorize_url_flow(admin.authorize(ac_connection))
    resp = admin.callback(_with_query(back, code="not-a-code-the-provider-issued"))
    assert resp.status_code == 502, resp.text[:300]
    assert "invalid_grant" in resp.text
    assert "Nothing was stored" in resp.text
    _assert_nothing_stored(server, admin_api, ac_connection)
    row = _row_html(PageSession(server, "admin").page, ac_connection)  # the failure is listed, "in page"
    assert "state-not_authorized" in row, row
    assert "data-kind='invalid_grant' data-where='page'" in row, row


def test_expired_state_is_rejected(server: ApiServer, admin_api: requests.Session, ac_connection: str) -> None:
    """A pending record older than the TTL: written through the plugin's own store with an old timestamp."""
    admin = PageSession(server, "admin")
    location = admin.authorize(ac_connection)
    state = parse_qs(urlsplit(location).query)["state"][0]
    script = textwrap.dedent(
        f"""
        import time
        from airflow_oauth_connector.plugins.security import PendingAuthorizations, server_secret
        store = PendingAuthorizations.from_secret(server_secret())
        store._clock = lambda: time.time() - 3600  # created an hour ago
        store.create({ac_connection!r}, "admin", redirect_uri="http://127.0.0.1/x", code_verifier="v" * 43,
                     state={state!r} + "-old")
        """
    )
    _run_python(server, script)
    resp = admin.callback(server.url(f"{PLUGIN}/callback?state={state}-old&code=whatever"))
    assert resp.status_code == 400, resp.text[:300]
    assert "expired" in resp.text
    _assert_nothing_stored(server, admin_api, ac_connection)


def test_forget_tokens_from_the_page(
    server: ApiServer, admin_api: requests.Session, auth_server: Any, ac_connection: str
) -> None:
    admin = PageSession(server, "admin")
    back = auth_server.authorize_url_flow(admin.authorize(ac_connection))
    assert admin.callback(back).status_code == 200
    assert "refresh_token" in _stored_extra(server, admin_api, ac_connection)
    resp = admin.http.post(
        server.url(f"{PLUGIN}/profiles/{ac_connection}/forget"), data={"csrf_token": admin.csrf}, timeout=30
    )
    assert resp.status_code == 200, resp.text[:300]
    assert f"Tokens of &#x27;{ac_connection}&#x27; removed" in resp.text
    _assert_nothing_stored(server, admin_api, ac_connection)
    test = admin.http.post(
        server.url(f"{PLUGIN}/profiles/{ac_connection}/test"), data={"csrf_token": admin.csrf}, timeout=60
    )
    assert test.status_code == 200
    assert "needs authorization" in test.text


# ------------------------------------------------- 5. Airflow's own Connections page: its Test button works
def _add_cc_connection(server: ApiServer, api: requests.Session, auth_server: Any, conn_id: str, secret: str) -> None:
    """A client-credentials connection created as the Connections page creates one: no port in the body."""
    body = connection(auth_server, "cc", secret=secret)
    body = {**body, "connection_id": conn_id, "extra": json.dumps(body["extra"])}
    resp = api.post(server.url("/api/v2/connections"), json=body, timeout=30)
    assert resp.status_code == 201, resp.text[:500]


def test_a_failed_test_on_the_page_shows_until_a_test_succeeds(
    server: ApiServer, admin_api: requests.Session, auth_server: Any
) -> None:
    """The page's Test records its outcome: a failure shows with kind, time and "test"; a success makes it ready."""
    conn_id = f"cc_status_{secrets.token_hex(3)}"
    wrong = "wrong-" + secrets.token_urlsafe(20)
    _add_cc_connection(server, admin_api, auth_server, conn_id, wrong)
    admin = PageSession(server, "admin")
    assert "state-not_tested" in _row_html(admin.page, conn_id)

    def press_test() -> str:
        resp = admin.http.post(
            server.url(f"{PLUGIN}/profiles/{conn_id}/test"), data={"csrf_token": admin.csrf}, timeout=60
        )
        assert resp.status_code == 200, resp.text[:500]
        return resp.text

    page = press_test()
    row = _row_html(page, conn_id)
    assert "<span class='state state-failing'>failing</span>" in row, row
    assert "data-kind='invalid_client' data-where='test'>Last failure: <strong>invalid_client</strong> at " in row
    assert f"Connection &#x27;{conn_id}&#x27;: token endpoint {auth_server.token_url} returned error" in row
    assert wrong not in page
    secret = auth_server.client("cc").client_secret
    patch = {"connection_id": conn_id, "conn_type": "oauth_connector", "password": secret}
    resp = admin_api.patch(
        server.url(f"/api/v2/connections/{conn_id}"), params={"update_mask": "password"}, json=patch, timeout=30
    )
    assert resp.status_code == 200, resp.text[:300]
    row = _row_html(press_test(), conn_id)
    assert "<span class='state state-ready'>ready</span>" in row, row
    assert "class='failure'" not in row
    assert "last success: " in row


def test_a_test_refused_for_invalid_settings_shows_on_the_page_until_a_test_of_valid_ones(
    server: ApiServer, admin_api: requests.Session, auth_server: Any
) -> None:
    """The page's Test of settings the loader refuses is recorded (invalid_settings, test); fixed, a Test clears it."""
    conn_id = f"cc_invalid_{secrets.token_hex(3)}"
    body = connection(auth_server, "cc", access_url="http://auth.example.com/oauth/token")  # http: refused
    body = {**body, "connection_id": conn_id, "extra": json.dumps(body["extra"])}
    resp = admin_api.post(server.url("/api/v2/connections"), json=body, timeout=30)
    assert resp.status_code == 201, resp.text[:500]
    admin = PageSession(server, "admin")
    row = _row_html(admin.page, conn_id)
    assert "class='failure'" not in row  # not tested yet: the settings error alone

    def press_test() -> str:
        resp = admin.http.post(
            server.url(f"{PLUGIN}/profiles/{conn_id}/test"), data={"csrf_token": admin.csrf}, timeout=60
        )
        assert resp.status_code == 200, resp.text[:500]
        return resp.text

    row = _row_html(press_test(), conn_id)
    assert "state-error" in row, row
    assert "data-kind='invalid_settings' data-where='test'>Last failure: <strong>invalid_settings</strong> at " in row
    assert "Access token URL (access_url): must use https" in row
    fixed = {**body, "extra": json.dumps(connection(auth_server, "cc")["extra"])}
    resp = admin_api.patch(
        server.url(f"/api/v2/connections/{conn_id}"), params={"update_mask": "extra"}, json=fixed, timeout=30
    )
    assert resp.status_code == 200, resp.text[:300]
    row = _row_html(press_test(), conn_id)
    assert "<span class='state state-ready'>ready</span>" in row, row
    assert "class='failure'" not in row


def test_the_connections_test_route_records_on_the_stored_connection_and_nothing_under_its_random_id(
    server: ApiServer, admin_api: requests.Session, auth_server: Any
) -> None:
    """
    ``POST /api/v2/connections/test`` (the Connections page's Test) tests a copy under a random id: the stored
    connection's row shows the outcome, and the token store (the file store in $AIRFLOW_HOME) gains nothing but
    what the stored connection's own test would keep (status record, lock, token), press after press.
    """
    good, bad = f"cc_copy_ok_{secrets.token_hex(3)}", f"cc_copy_bad_{secrets.token_hex(3)}"
    secrets_by_id = {good: auth_server.client("cc").client_secret, bad: "wrong-" + secrets.token_urlsafe(20)}
    for conn_id, secret in secrets_by_id.items():
        _add_cc_connection(server, admin_api, auth_server, conn_id, secret)
    printed = _run_python(
        server,
        "from airflow_oauth_connector.authorization import load_profile\n"
        "from airflow_oauth_connector.store.codec import key_digest\n"
        f"for conn_id in {list(secrets_by_id)!r}: print('digest', key_digest(load_profile(conn_id).cache_key))\n",
    )
    digests = re.findall(r"^digest ([0-9a-f]{64})$", printed, re.M)
    assert len(digests) == 2, printed[-2000:]
    tokens = server.airflow_home / "oauth_connector" / "tokens"
    before = {path.name for path in tokens.iterdir()} if tokens.exists() else set()
    for _ in range(2):
        for conn_id, secret in secrets_by_id.items():
            body = connection(auth_server, "cc", secret=secret)
            body = {**body, "connection_id": conn_id, "extra": json.dumps(body["extra"])}
            resp = admin_api.post(server.url("/api/v2/connections/test"), json=body, timeout=120)
            assert resp.status_code == 200, resp.text[:300]
            assert resp.json()["status"] is (conn_id == good), resp.text[:300]
    added = {path.name for path in tokens.iterdir()} - before
    good_digest, bad_digest = digests
    # the test ran as the stored connection: its status record, its lock and, for the good one, the token the
    # test obtained (the connection's tasks use it); nothing under a random id
    assert added == {f"{good_digest}.{kind}" for kind in ("status", "lock", "token")} | {
        f"{bad_digest}.{kind}" for kind in ("status", "lock")
    }
    page = PageSession(server, "admin").page
    assert "state-ready" in _row_html(page, good)
    assert "data-kind='invalid_client' data-where='test'" in _row_html(page, bad)


def test_connections_page_test_button_shows_the_hooks_messages(
    server: ApiServer, admin_api: requests.Session, auth_server: Any
) -> None:
    """Airflow's Connections page posts ``port: 0`` on Test; the stored port must compare equal (0, not null)."""
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import expect

    good, bad = f"cc_page_ok_{secrets.token_hex(3)}", f"cc_page_bad_{secrets.token_hex(3)}"
    _add_cc_connection(server, admin_api, auth_server, good, auth_server.client("cc").client_secret)
    _add_cc_connection(server, admin_api, auth_server, bad, "not-the-secret")
    # One more written behind the api-server's back with a null port (as the CLI or an older version did).
    legacy = f"cc_page_legacy_{secrets.token_hex(3)}"
    body = connection(auth_server, "cc")
    _run_python(
        server,
        textwrap.dedent(
            f"""
            import json
            from airflow.models import Connection
            from airflow.utils.session import create_session
            with create_session() as session:
                session.add(Connection(conn_id={legacy!r}, conn_type="oauth_connector", host={body["host"]!r},
                                       login={body["login"]!r}, password={body["password"]!r},
                                       extra={json.dumps(body["extra"])!r}))
            """
        ),
    )
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1360, "height": 800})
        context.set_default_timeout(30_000)
        page = context.new_page()
        sign_in(page, server.url("/"), "admin", server.passwords["admin"])
        expect(page.get_by_role("button", name="Admin")).to_be_visible(timeout=60_000)

        def press_test(conn_id: str) -> Any:
            try:
                return press_connection_test(page, server.base_url, conn_id)
            except Exception:
                save_artifacts(page, "connections-page")
                raise

        for conn_id in (good, legacy):
            response = press_test(conn_id)
            assert response.status == 200, response.text()[:300]
            assert json.loads(response.request.post_data or "{}")["port"] == 0  # what the page sends
            toast = page.get_by_role("status").filter(has_text="issued a Bearer token").last
            expect(toast).to_contain_text(f"client '{auth_server.client('cc').client_id}' via client_credentials")

        response = press_test(bad)
        assert response.status == 200, response.text()[:300]
        assert response.json()["status"] is False
        toast = page.get_by_role("status").filter(has_text="invalid_client").last
        expect(toast).to_contain_text("Could not obtain a token")
        screenshot = page.screenshot(full_page=True)
        if os.environ.get("OAUTH_CONNECTOR_UPDATE_SCREENSHOT"):
            (REPO / "docs" / "connections-page-test.png").write_bytes(screenshot)
        html = page.content()
        context.close()
    assert auth_server.client("cc").client_secret not in html
    # The page tested a copy under a random id; the stored connection shows the failure, as a test's.
    row = _row_html(PageSession(server, "admin").page, bad)
    assert "data-kind='invalid_client' data-where='test'" in row, row
    assert "state-ready" in _row_html(PageSession(server, "admin").page, good)
    # The stored rows say port 0; the hook ignores it (the base URL keeps its own port).
    for conn_id in (good, legacy):
        assert admin_api.get(server.url(f"/api/v2/connections/{conn_id}"), timeout=30).json()["port"] == 0


def test_callback_captures_callback_parameters_and_a_post_authorization_call(
    server: ApiServer, admin_api: requests.Session, auth_server: Any
) -> None:
    """The plugin's callback keeps a callback parameter (QuickBooks' realmId) and a value from one API call."""
    conn_id = f"oauth_it_capture_{secrets.token_hex(4)}"
    extra = {
        "capture_callback": ["realmId"],
        "post_authorize": {"url": auth_server.api_base + "/whoami", "capture": {"who": "user"}},
    }
    _add_connection(server, admin_api, auth_server, conn_id, **extra)
    admin = PageSession(server, "admin")
    back = auth_server.authorize_url_flow(admin.authorize(conn_id))
    missing = admin.callback(
        back
    )  # the provider did not send realmId: an incomplete redirect, refused before the exchange
    assert missing.status_code == 400, missing.text[:300]
    assert "was not authorized" in missing.text
    assert "realmId" in missing.text
    _assert_nothing_stored(server, admin_api, conn_id)

    back = auth_server.authorize_url_flow(admin.authorize(conn_id))
    ok = admin.callback(_with_query(back, realmId="4620816365"))
    assert ok.status_code == 200, ok.text[:500]
    captured = _stored_extra(server, admin_api, conn_id)["captured"]
    assert captured["realmId"] == "4620816365"
    assert captured["who"]


# ------------------------------------------------------------- 6. clickjacking and the Host header
def test_every_plugin_response_refuses_framing(server: ApiServer, auth_server: Any, ac_connection: str) -> None:
    admin = PageSession(server, "admin")
    responses = {
        "page": admin.http.get(server.url(PLUGIN + "/"), timeout=30),
        "anonymous 401": requests.get(server.url(PLUGIN + "/"), timeout=30),
        "viewer 403": server.session("viewer").get(server.url(PLUGIN + "/"), timeout=30),
        "authorize 303": admin.http.post(
            server.url(f"{PLUGIN}/profiles/{ac_connection}/authorize"),
            data={"csrf_token": admin.csrf},
            allow_redirects=False,
            timeout=30,
        ),
        "forged CSRF 403": admin.http.post(
            server.url(f"{PLUGIN}/profiles/{ac_connection}/forget"), data={"csrf_token": "x"}, timeout=30
        ),
        "bad callback 400": admin.http.get(server.url(PLUGIN + "/callback?state=nope&code=x"), timeout=30),
    }
    for name, resp in responses.items():
        assert resp.headers.get("X-Frame-Options") == "DENY", (name, resp.status_code, dict(resp.headers))
        assert resp.headers.get("Content-Security-Policy") == "frame-ancestors 'none'", name
    assert [r.status_code for r in responses.values()] == [200, 401, 403, 303, 403, 400]


def test_redirect_uri_ignores_the_host_header(server: ApiServer, ac_connection: str) -> None:
    """The callback URL comes from [api] base_url, never from what the request says its host is."""
    admin = PageSession(server, "admin")
    cookies = "; ".join(f"{c.name}={c.value}" for c in admin.http.cookies)
    resp = admin.http.post(
        server.url(f"{PLUGIN}/profiles/{ac_connection}/authorize"),
        data={"csrf_token": admin.csrf},
        # requests picks cookies by the Host header: send the CSRF cookie explicitly.
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example", "Cookie": cookies},
        allow_redirects=False,
        timeout=30,
    )
    assert resp.status_code == 303, resp.text[-600:]
    query = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}
    assert query["redirect_uri"] == server.url(PLUGIN + "/callback")
    page = admin.http.get(server.url(PLUGIN + "/"), headers={"Host": "evil.example", "Cookie": cookies}, timeout=30)
    assert "evil.example" not in page.text


# ------------------------------------------------------------------ 7. no authorization code in the logs
def test_signed_out_callback_keeps_its_code_out_of_the_api_servers_logs(server: ApiServer) -> None:
    """A redirect that arrives signed out: refused (401) before the handler; its request line keeps no value."""
    code, state, amazon = (f"{name}{secrets.token_hex(8)}" for name in ("SECRETCODE", "SECRETSTATE", "SECRETSPAPI"))
    query = f"code={code}&state={state}&spapi_oauth_code={amazon}&realmId=4620816365"
    resp = requests.get(server.url(f"{PLUGIN}/callback?{query}"), allow_redirects=False, timeout=30)
    assert resp.status_code == 401, resp.text[:300]
    assert code not in resp.text  # the sign-in link comes back to the profiles page, not to this URL
    deadline = time.monotonic() + 10
    while "spapi_oauth_code" not in server.log_text() and time.monotonic() < deadline:  # logged after the answer
        time.sleep(0.1)
    logs = server.log_text() + "".join(
        path.read_text(errors="replace") for path in (server.airflow_home / "logs").rglob("*") if path.is_file()
    )
    for secret in (code, state, amazon):
        assert secret not in logs
    line = next(line for line in logs.splitlines() if "spapi_oauth_code" in line)
    for expected in (f"{PLUGIN}/callback", "401", "code=redacted", "state=redacted", "spapi_oauth_code=redacted"):
        assert expected in line, line
