"""The default token store follows the executor: a distributed executor never defaults to a per-host store
for a grant a person authorized (issue 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_oauth_connector import config
from airflow_oauth_connector.exceptions import TokenStoreNotConfiguredError
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.store import FileTokenStore, RedisTokenStore
from airflow_oauth_connector.store.factory import default_backend, store_for


def profile(**extra: Any) -> OAuthProfile:
    return OAuthProfile.from_fields(
        "my_api",
        host="https://api.example.com",
        login="client-1",
        password="secret-1",
        extra={"access_url": "https://auth.example.com/token", **extra},
    )


def ac(**extra: Any) -> OAuthProfile:
    return profile(grant_type="authorization_code", authorize_url="https://auth.example.com/a", **extra)


@pytest.fixture(autouse=True)
def _no_store_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE", raising=False)
    monkeypatch.delenv("AIRFLOW__OAUTH_CONNECTOR__REDIS_URL", raising=False)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("LocalExecutor", ("LocalExecutor",)),
        ("CeleryExecutor", ("CeleryExecutor",)),
        ("LocalExecutor,KubernetesExecutor", ("LocalExecutor", "KubernetesExecutor")),
        ("my_alias:my.company.executors.FancyExecutor", ("FancyExecutor",)),
        ("airflow.providers.celery.executors.celery_executor.CeleryExecutor", ("CeleryExecutor",)),
        ("LocalExecutor;team1=CeleryExecutor", ("LocalExecutor", "CeleryExecutor")),
    ],
)
def test_executor_names(monkeypatch: pytest.MonkeyPatch, setting: str, expected: tuple[str, ...]) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", setting)
    assert config.executors() == expected


def test_local_executor_defaults_to_the_file_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    assert default_backend(ac(refresh_token="r")) == "file"
    assert isinstance(store_for(ac(refresh_token="r")), FileTokenStore)


@pytest.mark.parametrize("executor", ["CeleryExecutor", "KubernetesExecutor", "LocalExecutor,EdgeExecutor"])
def test_distributed_executor_defaults_to_redis_when_a_redis_url_is_set(
    monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__REDIS_URL", "rediss://oauth:pw@redis.internal:6380/0")
    assert default_backend(ac(refresh_token="r")) == "redis"
    assert default_backend(profile()) == "redis"
    assert isinstance(store_for(ac(refresh_token="r")), RedisTokenStore)


def test_distributed_executor_refuses_a_per_host_default_for_a_rotating_grant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    with pytest.raises(TokenStoreNotConfiguredError) as raised:
        store_for(ac(refresh_token="r"))
    message = str(raised.value)
    assert "CeleryExecutor" in message
    assert "[oauth_connector] redis_url" in message
    assert "[oauth_connector] token_store" in message
    assert "store_backend" in message


def test_distributed_executor_keeps_the_file_store_for_client_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    assert default_backend(profile()) == "file"  # one token per host; nothing to lose


def test_an_explicit_choice_always_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    assert isinstance(store_for(ac(refresh_token="r", store_backend="file")), FileTokenStore)
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE", "file")
    assert isinstance(store_for(ac(refresh_token="r")), FileTokenStore)
