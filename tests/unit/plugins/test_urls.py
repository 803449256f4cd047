"""Where the plugin lives: the callback URL from configuration only, and Airflow's base path."""

from __future__ import annotations

import pytest

from airflow_oauth_connector import config
from airflow_oauth_connector.plugins import URL_PREFIX, urls
from tests.support.builders import make_profile

CALLBACK_ENV = "AIRFLOW__OAUTH_CONNECTOR__CALLBACK_BASE_URL"
BASE_URL_ENV = "AIRFLOW__API__BASE_URL"
PORT_ENV = "AIRFLOW__API__PORT"


@pytest.fixture(autouse=True)
def _unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # config reads every option on each call (no cache to clear): unsetting the variables is enough.
    for name in (CALLBACK_ENV, BASE_URL_ENV, PORT_ENV):
        monkeypatch.delenv(name, raising=False)


def test_callback_base_url_wins_over_api_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CALLBACK_ENV, "https://proxy.example.com/")
    monkeypatch.setenv(BASE_URL_ENV, "https://internal.example.com/airflow")
    assert urls.public_base_url() == "https://proxy.example.com"
    assert urls.default_callback_url() == "https://proxy.example.com/oauth-connector/callback"


def test_api_base_url_is_used_when_no_callback_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_URL_ENV, "https://airflow.example.com/team/")
    assert urls.public_base_url() == "https://airflow.example.com/team"
    assert urls.default_callback_url() == f"https://airflow.example.com/team{URL_PREFIX}/callback"


def test_localhost_with_the_configured_port_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PORT_ENV, "9191")
    assert urls.public_base_url() == "http://localhost:9191"
    assert urls.default_callback_url() == "http://localhost:9191/oauth-connector/callback"


def test_blank_settings_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CALLBACK_ENV, "   ")
    monkeypatch.setenv(BASE_URL_ENV, "")
    monkeypatch.setenv(PORT_ENV, "8123")
    assert urls.public_base_url() == "http://localhost:8123"


def test_profile_redirect_uri_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CALLBACK_ENV, "https://proxy.example.com")
    own = make_profile(redirect_uri="https://app.example.com/cb")
    assert urls.redirect_uri_for(own) == "https://app.example.com/cb"
    assert urls.redirect_uri_for(make_profile()) == "https://proxy.example.com/oauth-connector/callback"


@pytest.mark.parametrize(
    ("base_url", "path"),
    [
        ("https://airflow.example.com", ""),
        ("https://airflow.example.com/", ""),
        ("https://airflow.example.com/team/airflow/", "/team/airflow"),
        ("http://localhost:8080/af", "/af"),
    ],
)
def test_airflow_base_path(monkeypatch: pytest.MonkeyPatch, base_url: str, path: str) -> None:
    monkeypatch.setenv(BASE_URL_ENV, base_url)
    assert urls.airflow_base_path() == path


def test_airflow_base_path_is_root_when_unset() -> None:
    assert urls.airflow_base_path() == ""


def test_airflow_base_path_is_root_when_configuration_is_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> str:
        raise RuntimeError("airflow.cfg unreadable")

    monkeypatch.setattr(config, "api_base_url", broken)
    assert urls.airflow_base_path() == ""
