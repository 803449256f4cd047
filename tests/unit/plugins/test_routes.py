"""The OAuth profiles app's routes: sign-in and permission checks, CSRF refusal, escaped output."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from airflow_oauth_connector import authorization
from airflow_oauth_connector.plugins.security import CSRF_COOKIE, CSRF_FIELD, CsrfProtector
from tests.support.plugin_app import SECRET, FakeUser, plugin_app

EVIL_ID = "<img src=x onerror=alert(1)>"  # no "/": it stays one path segment


def _client(*, user: FakeUser | None, allowed: bool) -> TestClient:
    return TestClient(plugin_app(user, allowed), raise_server_exceptions=True)


def _csrf(user_id: str) -> tuple[str, str]:
    """A (cookie nonce, form token) pair the app signed with SECRET would accept for ``user_id``."""
    protector = CsrfProtector.from_secret(SECRET)
    nonce = protector.new_nonce()
    return nonce, protector.token_for(nonce, user_id)


def test_signed_out_user_gets_401_with_the_html_error_page() -> None:
    response = _client(user=None, allowed=True).get("/")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "Sign in to Airflow" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"


def test_signed_out_post_is_refused_before_anything_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    forgotten: list[str] = []
    monkeypatch.setattr(authorization, "forget_tokens", forgotten.append)
    response = _client(user=None, allowed=True).post("/profiles/api/forget", data={CSRF_FIELD: "x"})
    assert response.status_code == 401
    assert forgotten == []


@pytest.mark.parametrize("action", ["authorize", "test", "forget"])
def test_viewer_who_may_not_edit_gets_403(action: str, monkeypatch: pytest.MonkeyPatch) -> None:
    forgotten: list[str] = []
    monkeypatch.setattr(authorization, "forget_tokens", forgotten.append)
    nonce, token = _csrf("viewer")
    client = _client(user=FakeUser("viewer"), allowed=False)
    client.cookies.set(CSRF_COOKIE, nonce)
    response = client.post(f"/profiles/api/{action}", data={CSRF_FIELD: token})
    assert response.status_code == 403
    assert "You may not edit connection" in response.text
    assert forgotten == []


def test_viewer_gets_403_on_the_list_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authorization, "list_connection_ids", lambda: ["api"])
    response = _client(user=FakeUser("viewer"), allowed=False).get("/")
    assert response.status_code == 403
    assert "cannot manage OAuth profiles" in response.text


@pytest.mark.parametrize(
    "form",
    [
        {},  # no token at all
        {CSRF_FIELD: "forged"},
        {CSRF_FIELD: _csrf("someone-else")[1]},  # signed for another user and nonce
    ],
)
def test_post_without_a_valid_csrf_token_is_refused(form: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    forgotten: list[str] = []
    monkeypatch.setattr(authorization, "forget_tokens", forgotten.append)
    client = _client(user=FakeUser("admin"), allowed=True)
    client.cookies.set(CSRF_COOKIE, _csrf("admin")[0])
    response = client.post("/profiles/api/forget", data=form)
    assert response.status_code == 403
    assert "CSRF check" in response.text
    assert forgotten == []


def test_csrf_token_of_another_user_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    forgotten: list[str] = []
    monkeypatch.setattr(authorization, "forget_tokens", forgotten.append)
    nonce, token = _csrf("alice")
    client = _client(user=FakeUser("mallory"), allowed=True)
    client.cookies.set(CSRF_COOKIE, nonce)
    response = client.post("/profiles/api/forget", data={CSRF_FIELD: token})
    assert response.status_code == 403
    assert forgotten == []


def test_valid_csrf_token_reaches_the_action(monkeypatch: pytest.MonkeyPatch) -> None:
    forgotten: list[str] = []
    monkeypatch.setattr(authorization, "forget_tokens", forgotten.append)
    monkeypatch.setattr(authorization, "list_connection_ids", list)
    nonce, token = _csrf("admin")
    client = _client(user=FakeUser("admin"), allowed=True)
    client.cookies.set(CSRF_COOKIE, nonce)
    response = client.post("/profiles/api/forget", data={CSRF_FIELD: token})
    assert response.status_code == 200
    assert forgotten == ["api"]
    assert "Tokens of &#x27;api&#x27; removed" in response.text  # html.escape quotes the repr


def test_oversized_form_is_refused() -> None:
    client = _client(user=FakeUser("admin"), allowed=True)
    response = client.post("/profiles/api/forget", content=b"a=" + b"x" * (17 * 1024))
    assert response.status_code == 413


def test_connection_id_is_html_escaped_in_error_pages() -> None:
    nonce, token = _csrf("viewer")
    client = _client(user=FakeUser("viewer"), allowed=False)
    client.cookies.set(CSRF_COOKIE, nonce)
    response = client.post(f"/profiles/{EVIL_ID}/authorize", data={CSRF_FIELD: token})
    assert response.status_code == 403
    assert "<img" not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text


def test_list_page_sets_a_strict_httponly_csrf_cookie(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authorization, "list_connection_ids", list)
    response = _client(user=FakeUser("admin"), allowed=True).get("/")
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "name-admin" in response.text


def test_the_pages_test_of_invalid_settings_reaches_the_hook_and_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_oauth_connector.plugins import routes
    from airflow_oauth_connector.status import TokenStatus, settings_key
    from airflow_oauth_connector.store.factory import settings_store
    from tests.support.builders import set_connection

    conn_id = set_connection(monkeypatch, "page_invalid", access_url="http://auth.example.com/oauth/token")
    ok, message = routes.test_connection(conn_id)
    assert not ok
    assert message.startswith("Invalid settings, no token requested: Access token URL (access_url): must use https")
    record = settings_store().load_status(settings_key(conn_id))
    assert isinstance(record, TokenStatus)
    assert record.failure is not None
    assert (record.failure.kind, record.failure.where) == ("invalid_settings", "test")


def test_the_pages_test_of_an_undefined_connection_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_oauth_connector.exceptions import OAuthConnectorError
    from airflow_oauth_connector.plugins import routes

    def undefined(conn_id: str) -> None:
        raise OAuthConnectorError(f"Connection {conn_id!r} is not defined")

    monkeypatch.setattr(routes.authorization, "load_profile", undefined)
    assert routes.test_connection("nowhere") == (False, "Connection 'nowhere' is not defined")
