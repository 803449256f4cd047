"""RedisTokenStore settings without a server (the server-side behaviour: tests/integration/store/test_redis.py)."""

from __future__ import annotations

import pytest

from airflow_oauth_connector.store.redis import RedisTokenStore


def test_default_url_comes_from_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RedisTokenStore().url == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__REDIS_URL", "redis://redis.internal:6380/2")
    assert RedisTokenStore().url == "redis://redis.internal:6380/2"
