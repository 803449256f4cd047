"""The plugin's app: built once per process with the Connections page's port convention; HTTP errors as HTML."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException

from airflow_oauth_connector.plugins import app as plugin_app
from airflow_oauth_connector.plugins import standard_fields
from airflow_oauth_connector.plugins.security import MemoryStateBackend


def test_get_app_is_built_once_and_installs_the_port_convention(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[bool] = []
    monkeypatch.setattr(standard_fields, "install", lambda: installed.append(True) or True)
    plugin_app.get_app.cache_clear()
    try:
        first = plugin_app.get_app()
        assert plugin_app.get_app() is first
        assert installed == [True]
    finally:
        plugin_app.get_app.cache_clear()


def test_the_app_publishes_no_api_docs() -> None:
    client = TestClient(plugin_app.create_app(secret=b"s" * 32, state_backend=MemoryStateBackend()))
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code in (401, 404), path


@pytest.mark.parametrize(
    ("status", "title"), [(401, "Sign in to Airflow first"), (403, "Not allowed"), (409, "Request failed")]
)
def test_http_errors_are_the_pages_own_html_and_never_cached(
    monkeypatch: pytest.MonkeyPatch, status: int, title: str
) -> None:
    monkeypatch.setattr(plugin_app, "sign_in_url", lambda _request: "/auth/login?next=/oauth-connector/")

    async def refuse(_request: Request) -> Any:
        raise HTTPException(status, "<b>the reason</b>", headers={"X-Extra": "kept"})

    app = plugin_app.create_app(secret=b"s" * 32, state_backend=MemoryStateBackend(), user_resolver=refuse)
    response = TestClient(app).get("/")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-extra"] == "kept"
    assert title in response.text
    assert "&lt;b&gt;the reason&lt;/b&gt;" in response.text
    assert ("/auth/login?next=/oauth-connector/" in response.text) is (status == 401)
