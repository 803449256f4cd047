"""The loopback listener of the CLI's native-app authorization (RFC 8252)."""

from __future__ import annotations

import time

import pytest
import requests

from airflow_oauth_connector.authorization.loopback import CallbackListener
from airflow_oauth_connector.exceptions import AuthorizationError


def test_listener_takes_one_callback_and_never_echoes_it() -> None:
    with CallbackListener() as listener:
        assert listener.redirect_uri == f"http://127.0.0.1:{listener.port}/callback"
        assert requests.get(f"http://127.0.0.1:{listener.port}/favicon.ico", timeout=5).status_code == 404
        first = requests.get(f"{listener.redirect_uri}?code=CODE-SENTINEL&state=s1", timeout=5)
        second = requests.get(f"{listener.redirect_uri}?code=OTHER&state=s2", timeout=5)
        assert listener.wait(1) == {"code": "CODE-SENTINEL", "state": "s1"}
    assert first.status_code == 200
    assert "close this window" in first.text
    assert "CODE-SENTINEL" not in first.text
    assert first.headers["Cache-Control"] == "no-store"
    assert second.status_code == 409


def test_listener_error_page_is_escaped() -> None:
    with CallbackListener() as listener:
        page = requests.get(f"{listener.redirect_uri}?error=%3Cscript%3E&state=s", timeout=5)
        assert listener.wait(1) == {"error": "<script>", "state": "s"}
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text


def test_listener_times_out() -> None:
    with CallbackListener() as listener:
        started = time.monotonic()
        assert listener.wait(0.2) is None
        assert time.monotonic() - started < 2


def test_listener_port_in_use() -> None:
    with CallbackListener() as busy, pytest.raises(AuthorizationError, match="Cannot listen"):
        CallbackListener(busy.port)
