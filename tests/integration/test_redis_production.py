"""The Redis token store as production runs Redis: an ACL user with a password and TLS only (a test CA,
``rediss://``), against a ``redis-server`` this test starts with those settings (issue 14).

Configured the way a deployment configures it: ``[oauth_connector] redis_url`` (user and password in it),
``redis_ca_file``, ``redis_socket_timeout``. The URL's password is registered with Airflow's secrets masker and
never appears in the store's repr or its errors. Skips if redis-server (with TLS) is not installed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_oauth_connector.exceptions import TokenStoreError
from airflow_oauth_connector.status import AuthState, TokenStatus
from airflow_oauth_connector.store import RedisTokenStore
from airflow_oauth_connector.store.factory import clear_store_cache, store_named
from airflow_oauth_connector.token import Token
from tests.support.redis_server import RedisServer, redis_unavailable, start_redis

pytestmark = pytest.mark.integration
ENV = "AIRFLOW__OAUTH_CONNECTOR__"


@pytest.fixture(scope="module")
def redis_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    reason = redis_unavailable(tls=True)
    if reason:
        pytest.skip(reason)
    server = start_redis(tmp_path_factory.mktemp("redis_tls"), user="oauth", tls=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def configured(redis_tls: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    monkeypatch.setenv(ENV + "REDIS_URL", redis_tls.url(0))
    monkeypatch.setenv(ENV + "REDIS_CA_FILE", str(redis_tls.ca_file))
    monkeypatch.setenv(ENV + "REDIS_PREFIX", f"it_{time.monotonic_ns()}:")
    monkeypatch.setenv(ENV + "REDIS_SOCKET_TIMEOUT", "3")
    clear_store_cache()
    yield redis_tls
    clear_store_cache()


def test_round_trip_over_tls_with_an_acl_user(configured: RedisServer) -> None:
    store = store_named("redis")
    assert isinstance(store, RedisTokenStore)
    assert store.socket_timeout == 3.0
    token = Token(access_token="at-" + "x" * 20, refresh_token="rt-" + "y" * 20, expires_at=time.time() + 300)
    with store.lock("k"):
        store.save("k", token)
    assert store.load("k") == token
    store.save_status("k", TokenStatus(state=AuthState.NEEDS_REAUTHORIZATION, chain="c"))
    status = store.load_status("k")
    assert isinstance(status, TokenStatus)
    assert status.chain == "c"
    assert configured.client().exists(store.redis_key("k"))  # it really is in that server


def test_the_password_is_never_shown_and_is_masked(configured: RedisServer) -> None:
    from airflow.sdk.log import redact

    password = configured.password or ""
    store = store_named("redis")
    assert password not in repr(store)
    assert "oauth:***@" in repr(store)
    assert password not in str(redact(f"connecting with {password}"))  # registered with the secrets masker


def test_a_wrong_password_fails_with_an_error_naming_the_store(
    configured: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = configured.url(0).replace(configured.password or "", "not-the-password")
    monkeypatch.setenv(ENV + "REDIS_URL", wrong)
    clear_store_cache()
    with pytest.raises(TokenStoreError, match=r"Redis token store at rediss://oauth:\*\*\*@") as raised:
        store_named("redis").load("k")
    assert "not-the-password" not in str(raised.value)


def test_tls_is_verified_against_the_configured_ca(configured: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV + "REDIS_CA_FILE")  # the system CAs do not know the test CA
    clear_store_cache()
    with pytest.raises(TokenStoreError, match=r"certificate verify failed|SSL"):
        store_named("redis").load("k")


def test_plain_redis_on_the_tls_port_is_refused(configured: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV + "REDIS_URL", configured.url(0).replace("rediss://", "redis://"))
    clear_store_cache()
    started = time.monotonic()
    with pytest.raises(TokenStoreError, match="Redis token store"):
        store_named("redis").load("k")
    assert time.monotonic() - started < 2 * 3 + 2  # bounded by the socket timeout, retried once


def test_an_unreachable_redis_fails_within_the_socket_timeout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A listening socket that never answers (backlog only): connect succeeds, every read times out.
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        monkeypatch.setenv(ENV + "REDIS_URL", f"redis://oauth:s3cret-pw-123@127.0.0.1:{port}/0")
        monkeypatch.setenv(ENV + "REDIS_SOCKET_TIMEOUT", "1")
        clear_store_cache()
        started = time.monotonic()
        with pytest.raises(TokenStoreError, match=r"Redis token store at redis://oauth:\*\*\*@127.0.0.1") as raised:
            store_named("redis").load("k")
        elapsed = time.monotonic() - started
    clear_store_cache()
    assert elapsed < 5, elapsed
    assert "s3cret-pw-123" not in str(raised.value)
