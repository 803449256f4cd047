"""Fixtures for token-store tests: isolated config, Fernet keys, and the real Redis on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from airflow_oauth_connector.store.factory import clear_store_cache

REDIS_URL = os.environ.get("OAUTH_CONNECTOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(autouse=True)
def _isolated_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No Fernet key and no provider options unless a test sets them; no shared stores across tests."""
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "")
    for name in list(os.environ):
        if name.startswith("AIRFLOW__OAUTH_CONNECTOR__"):
            monkeypatch.delenv(name)
    clear_store_cache()
    yield
    clear_store_cache()


@pytest.fixture
def fernet_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", key)
    return key


def redis_client_or_skip():  # type: ignore[no-untyped-def]
    redis = pytest.importorskip("redis", reason="the Redis token store needs the 'redis' package")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(
            f"no Redis server at {REDIS_URL} ({type(exc).__name__}); start one or set OAUTH_CONNECTOR_TEST_REDIS_URL"
        )
    return client


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix on the real Redis; every key under it is deleted afterwards."""
    client = redis_client_or_skip()
    prefix = f"oauth_connector_test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()
