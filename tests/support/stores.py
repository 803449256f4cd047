"""Token-store test fixtures: isolated config, a Fernet key, a private prefix on the real Redis, a manual clock."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.support.builders import Clock

REDIS_URL = os.environ.get("OAUTH_CONNECTOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def isolated_store_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No Fernet key and no provider options unless a test sets them; no shared stores across tests."""
    from airflow_oauth_connector.store.factory import clear_store_cache

    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "")
    for name in list(os.environ):
        if name.startswith("AIRFLOW__OAUTH_CONNECTOR__"):
            monkeypatch.delenv(name)
    clear_store_cache()
    yield
    clear_store_cache()


@pytest.fixture
def file_token_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The provider's token store is the file store, in a directory of this test (yielded)."""
    from airflow_oauth_connector.store.factory import clear_store_cache

    directory = tmp_path / "tokens"
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE", "file")
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__TOKEN_DIRECTORY", str(directory))
    clear_store_cache()
    yield directory
    clear_store_cache()


@pytest.fixture
def fernet_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", key)
    return key


def redis_client_or_skip() -> Any:
    """A client of the real Redis at ``REDIS_URL``; skips the test with the reason when there is none."""
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
def redis_raw() -> Iterator[Any]:
    client = redis_client_or_skip()
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_raw: Any) -> Iterator[str]:
    """A key prefix of this test's own on the real Redis (tests never share keys); deleted afterwards."""
    prefix = f"oauth_connector_test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(redis_raw.scan_iter(match=prefix + "*"))
    if keys:
        redis_raw.delete(*keys)


@contextlib.contextmanager
def manual_monotonic() -> Iterator[Clock]:
    """
    Within the block, ``time.monotonic()`` is a :class:`Clock` at 0.0 that only ``time.sleep`` moves.

    For exact checks of bounded waits (they give up at the deadline, not a scheduling-dependent moment
    later): every store lock measures its wait with ``time.monotonic`` and polls with ``time.sleep``.
    """
    clock = Clock(0.0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "monotonic", clock)
        patch.setattr(time, "sleep", clock.sleep)
        yield clock
