"""The plugin app's security headers: no framing and no caching on every response, errors included."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.testclient import TestClient

from airflow_oauth_connector.plugins import headers
from airflow_oauth_connector.plugins.app import create_app


def _app() -> FastAPI:
    app = FastAPI()
    headers.install(app)

    @app.get("/ok")
    def ok() -> PlainTextResponse:
        return PlainTextResponse("fine")

    @app.get("/redirect")
    def redirect() -> RedirectResponse:
        return RedirectResponse("/ok", status_code=303)

    @app.get("/forbidden")
    def forbidden() -> None:
        raise HTTPException(status_code=403, detail="no")

    @app.get("/own-policy")
    def own_policy() -> PlainTextResponse:
        return PlainTextResponse("x", headers={"Cache-Control": "private, max-age=5"})

    return app


def _assert_frame_guard(response_headers: object) -> None:
    assert response_headers["x-frame-options"] == "DENY"  # type: ignore[index]
    assert response_headers["content-security-policy"] == "frame-ancestors 'none'"  # type: ignore[index]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/ok", 200), ("/redirect", 303), ("/forbidden", 403), ("/missing", 404)],
)
def test_every_response_is_unframeable_and_uncached(path: str, status: int) -> None:
    response = TestClient(_app()).get(path, follow_redirects=False)
    assert response.status_code == status
    _assert_frame_guard(response.headers)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_method_not_allowed_error_carries_the_guard() -> None:
    response = TestClient(_app()).post("/ok")
    assert response.status_code == 405
    _assert_frame_guard(response.headers)


def test_a_header_the_route_sets_itself_is_kept() -> None:
    response = TestClient(_app()).get("/own-policy")
    assert response.headers["cache-control"] == "private, max-age=5"
    _assert_frame_guard(response.headers)


def test_the_plugin_app_installs_the_guard_on_its_error_pages() -> None:
    # An unknown page of the real app goes through its HTML error handler: still not frameable.
    response = TestClient(create_app(secret=b"s" * 32)).get("/no-such-page")
    assert response.status_code == 404
    _assert_frame_guard(response.headers)
    assert response.headers["cache-control"] == "no-store"


def test_an_unhandled_error_answers_500_with_the_guard() -> None:
    app = FastAPI()
    headers.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("unexpected")

    response = TestClient(app, raise_server_exceptions=False).get("/boom?code=secret-code")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    _assert_frame_guard(response.headers)
    assert response.headers["Cache-Control"] == "no-store"


def test_guard_values() -> None:
    assert headers.FRAME_GUARD == {
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "frame-ancestors 'none'",
    }
