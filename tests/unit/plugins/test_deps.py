"""The plugin's request dependencies: the user, the form, services built once, permission and CSRF checks, sign-in."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException

from airflow_oauth_connector.plugins import deps
from airflow_oauth_connector.plugins.app import create_app
from airflow_oauth_connector.plugins.security import CsrfProtector, MemoryStateBackend
from tests.support.plugin_app import SECRET, FakeUser, plugin_app


class Nameless(FakeUser):
    def get_name(self) -> str:
        raise AttributeError("no name")


def _app(allowed: set[str] | None = None) -> Any:
    app = plugin_app(FakeUser("7"), lambda conn_id: conn_id in (allowed or set()))

    @app.post("/probe/form")
    async def probe_form(form: deps.FormDep) -> dict[str, str]:
        return form

    @app.get("/probe/edit/{conn_id}")
    async def probe_edit(request: Request, conn_id: str, user: deps.UserDep) -> dict[str, str]:
        deps.require_edit(request, user, conn_id)
        return {"user": deps.user_id(user), "plugin": deps.plugin_path(request)}

    @app.post("/probe/csrf")
    async def probe_csrf(request: Request, user: deps.UserDep, form: deps.FormDep) -> dict[str, str]:
        deps.require_csrf(request, user, form)
        return {"ok": "yes"}

    @app.get("/probe/services")
    async def probe_services(request: Request) -> dict[str, bool]:
        return {"same": deps.services(request) is deps.services(request)}

    return app


def test_the_form_is_parsed_first_values_kept_and_a_large_one_refused() -> None:
    client = TestClient(_app())
    assert client.post("/probe/form", data={"a": "1", "empty": ""}).json() == {"a": "1", "empty": ""}
    assert client.post("/probe/form", content="a=1&a=2", headers={"Content-Type": "text/plain"}).json() == {"a": "1"}
    too_large = client.post("/probe/form", content="x=" + "y" * deps.MAX_FORM_BYTES)
    assert too_large.status_code == 413


def test_require_edit_asks_the_authorizer_per_connection() -> None:
    client = TestClient(_app(allowed={"mine"}))
    assert client.get("/probe/edit/mine").json() == {"user": "7", "plugin": ""}
    refused = client.get("/probe/edit/theirs")
    assert refused.status_code == 403
    assert "You may not edit connection &#x27;theirs&#x27;" in refused.text  # HTML-escaped


def test_require_csrf_takes_only_a_token_signed_for_this_user_and_cookie() -> None:
    protector = CsrfProtector.from_secret(SECRET)
    nonce = protector.new_nonce()
    client = TestClient(_app())
    client.cookies.set(deps.CSRF_COOKIE, nonce)
    good = client.post("/probe/csrf", data={deps.CSRF_FIELD: protector.token_for(nonce, "7")})
    assert good.status_code == 200
    other_user = client.post("/probe/csrf", data={deps.CSRF_FIELD: protector.token_for(nonce, "8")})
    assert other_user.status_code == 403
    assert "CSRF check" in other_user.text
    assert client.post("/probe/csrf", data={}).status_code == 403


def test_services_are_built_once_per_app() -> None:
    assert TestClient(_app()).get("/probe/services").json() == {"same": True}


def test_user_name_falls_back_to_the_id() -> None:
    assert deps.user_name(FakeUser("7")) == "name-7"
    assert deps.user_name(Nameless("7")) == "7"


class LoginPage:
    def get_url_login(self, *, next_url: str) -> str:
        return f"/auth/login?next={next_url}"


@pytest.mark.parametrize(
    ("method", "path", "next_url"),
    [
        ("GET", "/?notice=1", "http://testserver/?notice=1"),  # a page comes back to itself
        ("POST", "/profiles/c/forget", "http://testserver/"),  # a POST cannot be resumed
        ("GET", "/callback?code=SECRET&state=s", "http://testserver/"),  # the code never travels on
    ],
)
def test_sign_in_comes_back_to_the_page_but_never_to_the_callback(
    monkeypatch: pytest.MonkeyPatch, method: str, path: str, next_url: str
) -> None:
    import airflow.api_fastapi.app

    monkeypatch.setattr(airflow.api_fastapi.app, "get_auth_manager", LoginPage)
    app = create_app(secret=SECRET, state_backend=MemoryStateBackend())
    seen: list[str | None] = []

    async def signed_out(request: Request) -> Any:
        seen.append(deps.sign_in_url(request))
        raise HTTPException(401, "Not authenticated")

    app.state.settings.user_resolver = signed_out
    response = TestClient(app).request(method, path)
    assert response.status_code == 401
    assert seen == [f"/auth/login?next={next_url}"]


def test_no_sign_in_link_without_an_auth_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow.api_fastapi.app

    def missing() -> Any:
        raise RuntimeError("Auth Manager has not been initialized yet")

    monkeypatch.setattr(airflow.api_fastapi.app, "get_auth_manager", missing)
    request = Request({"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": [], "app": None})
    assert deps.sign_in_url(request) is None
