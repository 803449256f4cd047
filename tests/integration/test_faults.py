"""
Fault injection between the package and the real server: a proxy (tests/support/faultproxy.py) answers
chosen requests with faults. Transient faults must be survived within the configured bound; permanent
ones must fail on the first attempt with a typed, actionable error; nothing is retried forever.
"""

from __future__ import annotations

import email.utils
import json
import socket
import time

import pytest

from airflow_oauth_connector.exceptions import (
    ApiResponseError,
    EndpointUnreachableError,
    InvalidClientError,
    TokenResponseError,
)
from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.store import MemoryTokenStore
from tests.support.connections import connection
from tests.support.faultproxy import Fault, FaultProxy

pytestmark = pytest.mark.integration

TOKEN_PATH = "/o/token/"


@pytest.fixture(scope="module")
def proxy(auth_server):
    proxy = FaultProxy(auth_server.base_url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def hook_via_proxy(proxy, auth_server, monkeypatch):
    proxy.clear()

    def make(conn_id: str = "faulty", *, secret: str | None = None, **extra) -> OAuthConnectorHook:
        body = connection(
            auth_server,
            host=proxy.url("/api"),
            access_url=proxy.url(TOKEN_PATH),
            **({"secret": secret} if secret else {}),
            timeout="2",
            **extra,
        )
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))
        return OAuthConnectorHook(conn_id, token_store=MemoryTokenStore(), retry={"backoff_initial": 0.05})

    return make


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.mark.parametrize(
    "faults",
    [
        [Fault.status_code(503)] * 3,
        [Fault.status_code(429, **{"Retry-After": "1"})],
        [Fault.html(502), Fault.status_code(500)],
        [Fault.reset(), Fault.reset()],
        [Fault.slow(3)],  # slower than the 2 s timeout
    ],
    ids=["503-burst", "429-retry-after-seconds", "html-502-then-500", "connection-reset", "slower-than-timeout"],
)
def test_transient_token_endpoint_faults_are_survived(proxy, hook_via_proxy, faults):
    proxy.inject(TOKEN_PATH, *faults)
    hook = hook_via_proxy()
    token, elapsed = timed(hook.get_access_token)
    assert token
    attempts = proxy.count(TOKEN_PATH)
    assert attempts == len(faults) + 1
    assert elapsed < 15
    print(f"survived {faults[0].kind} x{len(faults)}: {attempts} attempts in {elapsed:.2f} s")


def test_retry_after_http_date_is_honoured(proxy, hook_via_proxy):
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    proxy.inject(TOKEN_PATH, Fault.status_code(429, **{"Retry-After": when}))
    _, elapsed = timed(hook_via_proxy().get_access_token)
    assert elapsed >= 1.0  # the HTTP date is whole seconds: at least one second of the two remains
    assert proxy.count(TOKEN_PATH) == 2


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        (Fault.truncated(), TokenResponseError, "neither JSON nor form"),
        (Fault.html(200), TokenResponseError, "HTML page"),
        (Fault.no_access_token(), TokenResponseError, "no 'access_token'"),
    ],
    ids=["truncated-json", "html-200", "200-without-access-token"],
)
def test_permanent_token_faults_fail_on_the_first_attempt(proxy, hook_via_proxy, fault, error, match):
    proxy.inject(TOKEN_PATH, fault)
    with pytest.raises(error, match=match):
        hook_via_proxy().get_access_token()
    assert proxy.count(TOKEN_PATH) == 1


def test_invalid_client_is_not_retried(proxy, hook_via_proxy):
    with pytest.raises(InvalidClientError):
        hook_via_proxy(secret="wrong-secret-value").get_access_token()
    assert proxy.count(TOKEN_PATH) == 1


def test_endless_503_stops_at_the_attempt_bound(proxy, hook_via_proxy):
    proxy.always(TOKEN_PATH, Fault.status_code(503))
    hook = hook_via_proxy(retry_max_attempts="4")
    with pytest.raises(TokenResponseError, match="unavailable: HTTP 503"):
        hook.get_access_token()
    assert proxy.count(TOKEN_PATH) == 4


def test_endless_retry_after_stops_at_the_time_bound(proxy, hook_via_proxy):
    proxy.always(TOKEN_PATH, Fault.status_code(429, **{"Retry-After": "2"}))
    hook = hook_via_proxy(retry_max_attempts="50", retry_max_seconds="5")
    started = time.monotonic()
    with pytest.raises(TokenResponseError, match="unavailable: HTTP 429"):
        hook.get_access_token()
    elapsed = time.monotonic() - started
    assert elapsed < 6
    assert 2 <= proxy.count(TOKEN_PATH) <= 3


def test_connection_refused_is_bounded_and_typed(monkeypatch, auth_server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    c = auth_server.client("cc")
    refused = connection(
        auth_server, access_url=f"http://127.0.0.1:{closed_port}/token", scope=None, retry_max_attempts="3"
    )
    monkeypatch.setenv("AIRFLOW_CONN_REFUSED", json.dumps(refused))
    hook = OAuthConnectorHook("refused", token_store=MemoryTokenStore(), retry={"backoff_initial": 0.05})
    with pytest.raises(EndpointUnreachableError) as info:
        hook.get_access_token()
    assert info.value.attempts == 3
    assert c.client_secret not in str(info.value)
    message = str(info.value)  # a plain sentence naming the connection and the URL, with the right hint
    assert message.startswith(
        f"Connection 'refused' could not reach its token URL http://127.0.0.1:{closed_port}/token: the connection "
        f"to 127.0.0.1:{closed_port} was refused (nothing listens on that port) (3 attempts in "
    )
    assert message.endswith(
        "Check the Access token URL field (access_url) and that the server is reachable from the worker"
    )
    assert "HTTPConnectionPool" not in message
    assert "retry limits" not in message


def test_api_faults_are_survived_with_the_current_token(proxy, hook_via_proxy):
    hook = hook_via_proxy()
    proxy.inject("/api/whoami", Fault.status_code(503), Fault.reset(), Fault.status_code(429, **{"Retry-After": "0"}))
    response, elapsed = timed(lambda: hook.run("whoami"))
    assert response.status_code == 200
    assert proxy.count("/api/whoami") == 4
    assert proxy.count(TOKEN_PATH) == 1
    print(f"API: 4 attempts in {elapsed:.2f} s")


def test_post_is_not_replayed_after_a_read_timeout(proxy, hook_via_proxy, fresh_stats):
    hook = hook_via_proxy()
    hook.get_access_token()
    proxy.inject("/api/echo", Fault.slow(3))
    with pytest.raises(EndpointUnreachableError) as info:
        hook.run("echo", method="POST", json={"charge": 1})
    assert info.value.attempts == 1
    assert proxy.wait_idle()  # the proxy forwards the slow request after the client gave up: wait until it has
    assert fresh_stats.stats()["api_requests"]["by_path"].get("/api/echo") == 1


def test_post_is_replayed_after_a_read_timeout_when_allowed(proxy, hook_via_proxy):
    hook = hook_via_proxy()
    proxy.inject("/api/echo", Fault.slow(3))
    assert hook.run("echo", method="POST", json={"a": 1}, replayable=True).status_code == 200
    assert proxy.count("/api/echo", "POST") == 2


def test_api_permanent_error_fails_on_first_attempt(proxy, hook_via_proxy):
    hook = hook_via_proxy()
    proxy.inject("/api/whoami", Fault.status_code(403, b'{"error": "forbidden"}'))
    with pytest.raises(ApiResponseError) as info:
        hook.run("whoami")
    assert info.value.http_status == 403
    assert proxy.count("/api/whoami") == 1
