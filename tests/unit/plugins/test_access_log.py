"""The callback's query reaches the plugin's handler intact while the server's access log sees it redacted."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException

from airflow_oauth_connector.plugins import access_log
from airflow_oauth_connector.plugins.access_log import redacted_query


def test_every_value_is_replaced_and_the_names_are_kept_in_order() -> None:
    query = b"code=abc%2F1&state=xyz&spapi_oauth_code=s3cr3t&realmId=4620816365&empty="
    assert redacted_query(query) == (
        b"code=redacted&state=redacted&spapi_oauth_code=redacted&realmId=redacted&empty=redacted"
    )


def test_a_query_that_is_not_pairs_keeps_no_value() -> None:
    assert redacted_query(b"secret-without-equals&a%20b=c=d") == b"redacted&a%20b=redacted"


class AccessLog:
    """What a server's access log reads: the scope's query string once the app has answered (Airflow 3.3)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lines: list[tuple[str, bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                self.lines.append((scope["path"], scope["query_string"]))


def _app(*, signed_in: bool) -> tuple[FastAPI, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []
    app = FastAPI()

    async def user() -> str:
        if not signed_in:
            raise HTTPException(401, "Not authenticated")
        return "admin"

    @app.get("/oauth-connector/callback")
    async def callback(request: Request) -> dict[str, str]:
        await user()
        seen.append(dict(request.query_params))
        return {"ok": "yes"}

    @app.get("/oauth-connector/")
    async def page(request: Request) -> dict[str, str]:
        return dict(request.query_params)

    access_log.install(app)
    return app, seen


def test_the_handler_reads_the_real_query_and_the_log_the_redacted_one() -> None:
    app, seen = _app(signed_in=True)
    logged = AccessLog(app)
    response = TestClient(logged).get("/oauth-connector/callback?code=THECODE&state=THESTATE")
    assert response.status_code == 200
    assert seen == [{"code": "THECODE", "state": "THESTATE"}]
    assert logged.lines == [("/oauth-connector/callback", b"code=redacted&state=redacted")]


def test_a_refused_callback_is_logged_redacted_too() -> None:
    app, seen = _app(signed_in=False)
    logged = AccessLog(app)
    response = TestClient(logged).get("/oauth-connector/callback?code=THECODE&state=THESTATE")
    assert response.status_code == 401
    assert seen == []
    assert logged.lines == [("/oauth-connector/callback", b"code=redacted&state=redacted")]


def test_other_routes_and_query_less_callbacks_pass_unchanged() -> None:
    app, _ = _app(signed_in=True)
    logged = AccessLog(app)
    client = TestClient(logged)
    assert client.get("/oauth-connector/?notice=saved").json() == {"notice": "saved"}
    assert client.get("/oauth-connector/callback").status_code == 200
    assert logged.lines == [("/oauth-connector/", b"notice=saved"), ("/oauth-connector/callback", b"")]


def test_the_plugin_app_installs_it() -> None:
    from airflow_oauth_connector.plugins.app import create_app
    from airflow_oauth_connector.plugins.security import MemoryStateBackend

    app = create_app(secret=b"x" * 32, state_backend=MemoryStateBackend(), is_allowed=lambda *_: True)
    assert any(middleware.cls is access_log.RedactCallbackQuery for middleware in app.user_middleware)
