"""Provider settings read in one place: defaults, environment overrides, validation, the provider-info section."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_oauth_connector import config
from airflow_oauth_connector.config import StoreBackend
from airflow_oauth_connector.exceptions import ConfigError, OAuthConnectorError
from airflow_oauth_connector.get_provider_info import get_provider_info

ENV = "AIRFLOW__OAUTH_CONNECTOR__"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in config.OPTIONS:
        monkeypatch.delenv(ENV + name.upper(), raising=False)


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert config.token_store() is StoreBackend.FILE
    assert config.token_directory() == tmp_path / "oauth_connector" / "tokens"
    assert config.redis_url() == "redis://127.0.0.1:6379/0"
    assert config.redis_prefix() == "oauth_connector:"
    assert config.variable_prefix() == "oauth_connector__"
    assert config.callback_base_url() is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV + "TOKEN_STORE", " Redis ")
    monkeypatch.setenv(ENV + "TOKEN_DIRECTORY", str(tmp_path / "t"))
    monkeypatch.setenv(ENV + "REDIS_PREFIX", "p:")
    monkeypatch.setenv(ENV + "CALLBACK_BASE_URL", "https://airflow.example.com/")
    monkeypatch.setenv(ENV + "VARIABLE_PREFIX", "  ")  # empty counts as unset
    assert config.token_store() is StoreBackend.REDIS
    assert config.token_directory() == tmp_path / "t"
    assert config.redis_prefix() == "p:"
    assert config.callback_base_url() == "https://airflow.example.com"
    assert config.variable_prefix() == "oauth_connector__"


def test_unknown_backend_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV + "TOKEN_STORE", "s3")
    with pytest.raises(ConfigError, match=r"token_store is 's3'; expected one of: file, redis, variables, memory"):
        config.token_store()
    assert issubclass(ConfigError, OAuthConnectorError)


def test_provider_info_declares_every_option_and_backend() -> None:
    info = get_provider_info()
    options = info["config"]["oauth_connector"]["options"]
    assert set(options) == set(config.OPTIONS)
    # No declared defaults: an unset option must be told from a set one (the default follows the executor).
    assert options["token_store"]["default"] is None
    assert "executor" in options["token_store"]["description"]
    assert options["redis_url"]["default"] is None
    store_field = info["connection-types"][0]["conn-fields"]["store_backend"]
    assert store_field["schema"]["enum"] == list(StoreBackend.names())


def test_default_deferrable_follows_airflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "true")
    assert config.default_deferrable() is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "false")
    assert config.default_deferrable() is False


@pytest.mark.parametrize(
    ("reader", "name", "default"),
    [
        (config.redis_socket_timeout, "redis_socket_timeout", 5.0),
        (config.lock_wait_timeout, "lock_wait_timeout", 60.0),
        (config.redis_lock_timeout, "redis_lock_timeout", 15.0),
    ],
)
def test_seconds_options_default_override_and_refuse_nonsense(
    monkeypatch: pytest.MonkeyPatch, reader: object, name: str, default: float
) -> None:
    assert callable(reader)
    assert reader() == default
    assert config.OPTIONS[name].default == str(default)  # the provider info declares the reader's default
    monkeypatch.setenv(ENV + name.upper(), "12.5")
    assert reader() == 12.5
    for bad in ("0", "-3", "nan", "soon", "1e9"):
        monkeypatch.setenv(ENV + name.upper(), bad)
        with pytest.raises(ConfigError, match=rf"\[oauth_connector\] {name} is '{bad}'; expected seconds in \(0, "):
            reader()
