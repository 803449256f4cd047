"""The plugin class: registered lazily, the menu entry, the callback URL."""

from __future__ import annotations

import pytest

from airflow_oauth_connector.plugins import URL_PREFIX, OAuthConnectorPlugin
from airflow_oauth_connector.plugins.urls import default_callback_url, redirect_uri_for
from airflow_oauth_connector.profile import OAuthProfile
from tests.support.airflow_compat import is_valid_plugin


def test_plugin_is_a_valid_airflow_plugin() -> None:
    assert is_valid_plugin(OAuthConnectorPlugin)
    assert OAuthConnectorPlugin.name == "oauth_connector"


def test_menu_entry_opens_the_page_in_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/team-a/")
    (view,) = OAuthConnectorPlugin().external_views
    assert view == {
        "name": "OAuth profiles",
        "href": "/team-a/oauth-connector/",
        "category": "admin",
        "destination": "nav",
    }


def test_fastapi_app_is_built_on_access() -> None:
    (entry,) = OAuthConnectorPlugin().fastapi_apps
    assert entry["url_prefix"] == URL_PREFIX
    routes = {getattr(r, "path", "") for r in entry["app"].routes}
    assert {"/", "/callback", "/profiles/{conn_id}/authorize", "/profiles/{conn_id}/test"} <= routes
    assert OAuthConnectorPlugin().fastapi_apps[0]["app"] is entry["app"]  # built once


def test_callback_url_comes_from_configuration_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__OAUTH_CONNECTOR__CALLBACK_BASE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW__API__PORT", "8081")
    assert default_callback_url() == "http://localhost:8081/oauth-connector/callback"
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/team-a/")
    assert default_callback_url() == "https://airflow.example.com/team-a/oauth-connector/callback"
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__CALLBACK_BASE_URL", "https://proxy.example.com/")
    assert default_callback_url() == "https://proxy.example.com/oauth-connector/callback"


def test_profile_redirect_uri_wins() -> None:
    profile = OAuthProfile.from_fields(
        "crm",
        host="https://api.example.com",
        login="id",
        password="secret",
        extra={
            "grant_type": "authorization_code",
            "access_url": "https://auth.example.com/token",
            "authorize_url": "https://auth.example.com/authorize",
            "redirect_uri": "https://proxy.example.com/cb",
        },
    )
    assert redirect_uri_for(profile) == "https://proxy.example.com/cb"
