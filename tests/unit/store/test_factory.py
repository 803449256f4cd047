"""store_for(): which backend a profile gets, and one shared store object per backend and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from airflow_oauth_connector.exceptions import OAuthConnectorError
from airflow_oauth_connector.status import AuthState, TokenStatus
from airflow_oauth_connector.store import (
    FileTokenStore,
    MemoryTokenStore,
    RedisTokenStore,
    TokenStatusStore,
    TokenStore,
    TokenStoreError,
    VariableTokenStore,
)
from airflow_oauth_connector.store.factory import commit_token, store_for, store_named
from tests.support.builders import make_profile, make_token


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))


def test_override_wins() -> None:
    mine = MemoryTokenStore()
    assert store_for(make_profile(store_backend="redis"), mine) is mine


def test_default_is_the_file_store_under_airflow_home(tmp_path: Path) -> None:
    store = store_for(make_profile())
    assert isinstance(store, FileTokenStore)
    assert store.directory == tmp_path / "oauth_connector" / "tokens"


def test_provider_wide_default_from_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE", "Redis")
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__REDIS_URL", "redis://cache.internal:6379/3")
    store = store_for(make_profile())
    assert isinstance(store, RedisTokenStore)
    assert store.url == "redis://cache.internal:6379/3"
    assert isinstance(store_for(make_profile(store_backend="variables")), VariableTokenStore)  # the connection wins


def test_unknown_provider_wide_default_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE", "etcd")
    with pytest.raises(OAuthConnectorError, match=r"\[oauth_connector\] token_store is 'etcd'"):
        store_for(make_profile())


def test_memory_is_the_process_wide_memory_store() -> None:
    assert store_for(make_profile(store_backend="memory")) is MemoryTokenStore.shared()


@pytest.mark.parametrize("backend", ["file", "redis", "variables"])
def test_one_store_object_per_backend_and_settings(backend: str) -> None:
    first = store_for(make_profile(store_backend=backend))
    assert store_for(make_profile(store_backend=backend)) is first
    assert store_named(backend) is first
    assert isinstance(first, TokenStore)
    assert isinstance(first, TokenStatusStore)


def test_changed_settings_give_another_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = store_named("file")
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__TOKEN_DIRECTORY", str(tmp_path / "elsewhere"))
    second = store_named("file")
    assert second is not first
    assert isinstance(second, FileTokenStore)
    assert second.directory == tmp_path / "elsewhere"
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
    third = store_named("file")
    assert third is not second
    assert isinstance(third, FileTokenStore)
    assert third.codec.encrypted


def test_lock_timing_comes_from_the_provider_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    default = store_named("file")
    assert isinstance(default, FileTokenStore)
    assert default.wait_timeout == 60.0
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__LOCK_WAIT_TIMEOUT", "150")
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__REDIS_LOCK_TIMEOUT", "45")
    file_store, redis_store = store_named("file"), store_named("redis")
    assert isinstance(file_store, FileTokenStore)
    assert file_store.wait_timeout == 150.0
    assert isinstance(redis_store, RedisTokenStore)
    assert (redis_store.wait_timeout, redis_store.lock_timeout) == (150.0, 45.0)


def test_commit_token_and_status(tmp_path: Path) -> None:
    token = make_token()
    status = TokenStatus(state=AuthState.NEEDS_REAUTHORIZATION)
    for store in (MemoryTokenStore(), FileTokenStore(tmp_path / "t")):
        assert commit_token(store, "k", token) == token
        assert store.load("k") == token
        assert store.load_status("k") is None
        store.save_status("k", status)
        assert store.load_status("k") == status
        store.clear_status("k")
        assert store.load_status("k") is None


class _TokensOnly:
    """A custom store written before status was part of the protocol."""

    def load(self, key: str) -> None:
        return None

    def save(self, key: str, token: object) -> None:
        pass

    def delete(self, key: str) -> None:
        pass

    def lock(self, key: str) -> Any:
        return MemoryTokenStore().lock(key)


def test_custom_store_without_status_is_refused_loudly() -> None:
    with pytest.raises(TokenStoreError, match="lacks load_status, save_status, clear_status"):
        store_for(make_profile(), _TokensOnly())


def test_custom_store_with_status_is_used() -> None:
    custom = MemoryTokenStore()
    assert store_for(make_profile(), custom) is custom
