"""The native page's JSON API: sign-in and permission checks, the CSRF header, rows without secrets, outcomes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from airflow_oauth_connector import authorization
from airflow_oauth_connector.authorization import ProfileStatus, read_model
from airflow_oauth_connector.plugins import routes
from airflow_oauth_connector.plugins.deps import CSRF_HEADER
from airflow_oauth_connector.plugins.security import CSRF_COOKIE, MemoryStateBackend, OutcomeSigner
from airflow_oauth_connector.profile import OAuthProfile
from tests.support.plugin_app import SECRET, FakeUser, plugin_app

CLIENT_SECRET = "s3cr3t-client-value-never-shown"

POSTS = ["/api/validate", "/api/profiles/crm/test", "/api/profiles/crm/forget", "/api/profiles/crm/authorize"]
GETS = ["/api/session", "/api/profiles", "/api/form", "/api/outcome?token=x"]


class Harness:
    """The plugin app with a test user and permission, and the calls the native page makes."""

    def __init__(self, user: FakeUser | None, allowed: bool | Callable[[str | None], bool] = True) -> None:
        self.backend = MemoryStateBackend()
        app = plugin_app(user, allowed, state_backend=self.backend)
        self.http = TestClient(app, raise_server_exceptions=True)

    def session(self) -> dict[str, Any]:
        response = self.http.get("/api/session")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def post(self, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers[CSRF_HEADER] = token
        return self.http.post(path, content=json.dumps(body or {}), headers=headers)


def _profile(grant: str = "authorization_code", conn_id: str = "crm") -> OAuthProfile:
    extra = {"grant_type": grant, "access_url": "https://auth.example.com/token"}
    if grant == "authorization_code":
        extra["authorize_url"] = "https://auth.example.com/authorize"
    return OAuthProfile.from_fields(
        conn_id, host="https://api.example.com", login="client-id", password=CLIENT_SECRET, extra=extra
    )


@pytest.fixture
def one_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """One authorized authorization-code connection 'crm' (the metadata DB and token store stood in)."""
    monkeypatch.setattr(authorization, "list_connection_ids", lambda: ["crm"])
    monkeypatch.setattr(read_model, "load_profile", lambda _conn_id: _profile())
    status = ProfileStatus(
        conn_id="crm",
        grant_type="authorization_code",
        state="authorized",
        expires_at=1_900_000_000.0,
        scope="read write",
        last_refresh=1_899_990_000.0,
        refresh_token_present=True,
    )
    monkeypatch.setattr(read_model, "profile_status", lambda _profile, _store=None: status)


# --------------------------------------------------------------------------------------- access control
@pytest.mark.parametrize("path", GETS)
def test_signed_out_gets_401_as_json(path: str) -> None:
    response = Harness(None).http.get(path)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", POSTS)
def test_signed_out_post_gets_401_before_anything_happens(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(authorization, "forget_tokens", calls.append)
    monkeypatch.setattr(routes, "test_connection", lambda conn_id: calls.append(conn_id) or (True, "ok"))
    response = Harness(None).post(path, token="anything")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert calls == []


@pytest.mark.parametrize("path", ["/api/session", "/api/profiles", "/api/form"])
def test_user_who_may_not_edit_gets_403(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authorization, "list_connection_ids", lambda: ["crm"])
    response = Harness(FakeUser("viewer"), allowed=False).http.get(path)
    assert response.status_code == 403, response.text
    assert "may not edit connections" in response.json()["detail"]


@pytest.mark.parametrize("path", POSTS)
def test_viewer_post_with_a_valid_csrf_token_still_gets_403(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(authorization, "forget_tokens", calls.append)
    monkeypatch.setattr(routes, "test_connection", lambda conn_id: calls.append(conn_id) or (True, "ok"))
    admin = Harness(FakeUser("viewer"), allowed=True)
    token = admin.session()["csrf_token"]  # a genuine token of this user and browser ...
    viewer = Harness(FakeUser("viewer"), allowed=False)
    viewer.http.cookies.set(CSRF_COOKIE, admin.http.cookies[CSRF_COOKIE])
    response = viewer.post(path, token=token)  # ... but the auth manager says no
    assert response.status_code == 403, response.text
    assert calls == []


@pytest.mark.parametrize("path", POSTS)
def test_state_changes_need_the_csrf_header(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(authorization, "forget_tokens", calls.append)
    monkeypatch.setattr(routes, "test_connection", lambda conn_id: calls.append(conn_id) or (True, "ok"))
    harness = Harness(FakeUser("admin"))
    token = harness.session()["csrf_token"]
    for forged in (None, "", "forged", token + "x"):
        response = harness.post(path, token=forged)
        assert response.status_code == 403, (forged, response.text)
        assert "CSRF" in response.json()["detail"]
    other = Harness(FakeUser("mallory"))  # another user's token for this browser's cookie does not pass
    other.http.cookies.set(CSRF_COOKIE, harness.http.cookies[CSRF_COOKIE])
    assert other.post(path, token=token).status_code == 403
    bare = Harness(FakeUser("admin"))  # the right token without the cookie it is bound to
    assert bare.post(path, token=token).status_code == 403
    assert calls == []


def test_session_sets_an_http_only_strict_cookie_once() -> None:
    harness = Harness(FakeUser("admin"))
    first = harness.http.get("/api/session")
    cookie = first.headers["set-cookie"]
    assert f"{CSRF_COOKIE}=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    body = first.json()
    assert body["user"] == "name-admin"
    assert body["csrf_header"] == CSRF_HEADER
    assert body["native_page"].endswith("/plugin/oauth-profiles")
    assert body["callback_url"].endswith("/oauth-connector/callback")
    second = harness.http.get("/api/session")
    assert "set-cookie" not in second.headers  # the same nonce, the same token
    assert second.json()["csrf_token"] == body["csrf_token"]


# ---------------------------------------------------------------------------------------------- rows
def test_profiles_are_status_rows_with_actions_and_no_secret(one_profile: None) -> None:
    response = Harness(FakeUser("admin")).http.get("/api/profiles")
    assert response.status_code == 200
    (row,) = response.json()["profiles"]
    assert row["conn_id"] == "crm"
    assert row["state"] == "authorized"
    assert row["authorize_label"] == "Re-authorize"  # once authorized
    assert row["can_authorize"] is True
    assert row["scope"] == "read write"
    assert row["expires_at_text"] == "2030-03-17 17:46 UTC"
    assert row["last_refresh_text"] == "2030-03-17 15:00 UTC"
    assert row["redirect_uri"].endswith("/oauth-connector/callback")
    assert row["description"].startswith("authorized; token expires at")
    assert CLIENT_SECRET not in response.text


def test_profiles_list_only_connections_the_user_may_edit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authorization, "list_connection_ids", lambda: ["crm", "billing"])
    monkeypatch.setattr(read_model, "load_profile", lambda conn_id: _profile("client_credentials", conn_id))
    monkeypatch.setattr(
        read_model,
        "profile_status",
        lambda profile, _store=None: ProfileStatus(
            conn_id=profile.conn_id, grant_type="client_credentials", state="ready"
        ),
    )
    harness = Harness(FakeUser("admin"), allowed=lambda conn_id: conn_id in (None, "billing"))
    rows = harness.http.get("/api/profiles").json()["profiles"]
    assert [row["conn_id"] for row in rows] == ["billing"]
    assert rows[0]["can_authorize"] is False
    assert rows[0]["authorize_label"] == "Authorize"
    assert rows[0]["redirect_uri"] is None


# ------------------------------------------------------------------------------------------- actions
def test_test_forget_and_authorize_with_the_csrf_header(one_profile: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(authorization, "forget_tokens", lambda conn_id: calls.append(("forget", conn_id)))
    monkeypatch.setattr(routes, "test_connection", lambda conn_id: (False, "Could not obtain a token: invalid_client"))

    def begin(_request: Any, user: Any, conn_id: str, return_to: str | None = None) -> str:
        calls.append(("authorize", conn_id, user.get_id(), str(return_to)))
        return "https://auth.example.com/authorize?state=abc"

    monkeypatch.setattr(routes, "begin_authorization", begin)
    harness = Harness(FakeUser("admin"))
    token = harness.session()["csrf_token"]

    tested = harness.post("/api/profiles/crm/test", token=token)
    assert tested.status_code == 200
    assert tested.json()["ok"] is False
    assert tested.json()["message"] == "Could not obtain a token: invalid_client"
    assert tested.json()["profile"]["conn_id"] == "crm"

    forgot = harness.post("/api/profiles/crm/forget", token=token)
    assert forgot.status_code == 200
    assert forgot.json()["ok"] is True

    started = harness.post("/api/profiles/crm/authorize", token=token)
    assert started.status_code == 200
    assert started.json() == {"url": "https://auth.example.com/authorize?state=abc"}
    assert calls == [("forget", "crm"), ("authorize", "crm", "admin", "native")]
    for response in (tested, forgot, started):
        assert CLIENT_SECRET not in response.text
        assert response.headers["x-frame-options"] == "DENY"


def test_a_malformed_json_body_is_a_400(one_profile: None) -> None:
    harness = Harness(FakeUser("admin"))
    token = harness.session()["csrf_token"]
    headers = {"Content-Type": "application/json", CSRF_HEADER: token}
    assert harness.http.post("/api/validate", content="{not json", headers=headers).status_code == 400
    assert harness.http.post("/api/validate", content="[1, 2]", headers=headers).status_code == 400
    too_big = json.dumps({"extra": "x" * 70_000})
    assert harness.http.post("/api/validate", content=too_big, headers=headers).status_code == 413


# ------------------------------------------------------------------------------------- the callback
def test_a_callback_started_from_the_native_page_returns_there_with_a_signed_notice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(routes, "_load_profile_or_400", lambda _conn_id: _profile())
    harness = Harness(FakeUser("admin"))
    from airflow_oauth_connector.plugins.security import PendingAuthorizations

    pending = PendingAuthorizations.from_secret(SECRET, harness.backend)
    state = pending.create(
        "crm", "admin", redirect_uri="http://x/oauth-connector/callback", code_verifier=None, return_to="native"
    )
    back = harness.http.get(f"/callback?state={state}&error=access_denied", follow_redirects=False)
    assert back.status_code == 303
    target = urlsplit(back.headers["location"])
    assert target.path == "/plugin/oauth-profiles"  # inside Airflow's UI
    token = parse_qs(target.query)["oauth_outcome"][0]
    notice = harness.http.get("/api/outcome", params={"token": token})
    assert notice.status_code == 200
    assert notice.json()["kind"] == "error"
    assert notice.json()["title"] == "Connection 'crm' was not authorized"
    assert "access_denied" in notice.json()["message"]

    stranger = Harness(FakeUser("mallory"))  # a notice signed for another user is not shown
    assert stranger.http.get("/api/outcome", params={"token": token}).status_code == 400
    assert harness.http.get("/api/outcome", params={"token": token[:-2] + "xx"}).status_code == 400


def test_the_callback_finishes_with_the_nonce_its_authorization_request_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    profile = OAuthProfile.from_fields(
        "crm",
        host="https://api.example.com",
        login="client-id",
        password=CLIENT_SECRET,
        extra={
            "grant_type": "authorization_code",
            "access_url": "https://auth.example.com/token",
            "authorize_url": "https://auth.example.com/authorize",
            "scope": "openid offline_access",
        },
    )
    monkeypatch.setattr(routes, "_load_profile_or_400", lambda _conn_id: profile)
    finished: list[dict[str, Any]] = []

    def finish(_profile: OAuthProfile, answer: Any, verifier: str | None, redirect: str, *, nonce: str | None) -> Any:
        finished.append({"code": answer.code, "verifier": verifier, "nonce": nonce})
        return ProfileStatus(conn_id="crm", grant_type="authorization_code", state="authorized")

    monkeypatch.setattr(routes.service, "finish", finish)
    harness = Harness(FakeUser("admin"))
    started = harness.post("/api/profiles/crm/authorize", token=harness.session()["csrf_token"])
    sent = {k: v[0] for k, v in parse_qs(urlsplit(started.json()["url"]).query).items()}
    assert sent["nonce"]
    assert all(sent["nonce"] not in value for value in harness.backend.values.values())  # kept encrypted
    back = harness.http.get(f"/callback?state={sent['state']}&code=the-code", follow_redirects=False)
    assert back.status_code == 303
    assert finished == [{"code": "the-code", "verifier": finished[0]["verifier"], "nonce": sent["nonce"]}]
    assert finished[0]["verifier"]


def test_outcome_tokens_expire() -> None:
    now = [1_000_000.0]
    signer = OutcomeSigner(b"k" * 32, clock=lambda: now[0])
    token = signer.sign({"kind": "success", "title": "ok"}, "admin")
    assert signer.verify(token, "admin") == {"kind": "success", "title": "ok"}
    now[0] += 601
    assert signer.verify(token, "admin") is None
    assert signer.verify("no-dot", "admin") is None


# --------------------------------------------------------------------------- form and validation (fields.py)
def test_form_is_the_fields_schema() -> None:
    from airflow_oauth_connector import fields

    response = Harness(FakeUser("admin")).http.get("/api/form")
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(fields.form_schema()))


def test_validate_names_the_label_of_a_bad_field() -> None:
    harness = Harness(FakeUser("admin"))
    token = harness.session()["csrf_token"]
    extra = {
        "grant_type": "client_credentials",
        "access_url": "https://auth.example.com/token",
        "access_params": '{"body": {"audience": "x"}, "query": {"a": 1},, }',
    }
    body = {
        "connection_id": "crm",
        "conn_type": "oauth_connector",
        "host": "https://api.example.com",
        "login": "id",
        "password": CLIENT_SECRET,
        "extra": json.dumps(extra),
    }
    answer = harness.post("/api/validate", body, token=token)
    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is False
    (problem,) = [p for p in answer.json()["problems"] if p["field"].startswith("access_params")]
    assert problem["text"].startswith("Token parameters (access_params): not valid JSON near character")
    assert CLIENT_SECRET not in answer.text
    extra["access_params"] = '{"body": {"audience": "x"}}'
    good = harness.post("/api/validate", {**body, "extra": json.dumps(extra)}, token=token)
    assert good.json() == {"ok": True, "problems": []}


def test_the_test_route_answers_with_the_row_showing_a_test_refused_for_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support.builders import CLIENT_SECRET as CONNECTION_SECRET
    from tests.support.builders import set_connection

    conn_id = set_connection(monkeypatch, "crm_invalid", access_url="http://auth.example.com/oauth/token")
    harness = Harness(FakeUser("admin"))
    tested = harness.post(f"/api/profiles/{conn_id}/test", token=harness.session()["csrf_token"])
    assert tested.status_code == 200, tested.text
    answer = tested.json()
    assert answer["ok"] is False
    assert answer["message"].startswith("Invalid settings, no token requested: Access token URL (access_url)")
    row = answer["profile"]
    assert row["state"] == "error"
    assert (row["last_failure"]["kind"], row["last_failure"]["where"]) == ("invalid_settings", "test")
    assert row["description"].startswith("last failure: invalid_settings at ")
    assert CONNECTION_SECRET not in tested.text
