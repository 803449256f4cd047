"""The plugin class: registered lazily, the menu entry, the callback URL."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from airflow_oauth_connector.plugins import URL_PREFIX, OAuthConnectorPlugin, bundle
from airflow_oauth_connector.plugins.urls import default_callback_url, redirect_uri_for
from airflow_oauth_connector.profile import OAuthProfile
from tests.support.airflow_compat import is_valid_plugin


def test_plugin_is_a_valid_airflow_plugin() -> None:
    assert is_valid_plugin(OAuthConnectorPlugin)
    assert OAuthConnectorPlugin.name == "oauth_connector"


def test_without_a_built_bundle_the_menu_entry_opens_the_classic_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/team-a/")
    monkeypatch.setattr(bundle, "DIST_DIR", tmp_path)  # nothing built there
    assert OAuthConnectorPlugin().react_apps == []
    (view,) = OAuthConnectorPlugin().external_views
    assert view == {
        "name": "OAuth profiles",
        "href": "/team-a/oauth-connector/",
        "category": "admin",
        "destination": "nav",
    }


def test_with_a_built_bundle_the_menu_entry_is_the_native_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/team-a/")
    monkeypatch.setattr(bundle, "DIST_DIR", tmp_path)
    script = b"(function(){globalThis.AirflowPlugin=function(){return null}})();"
    (tmp_path / bundle.BUNDLE_NAME).write_bytes(script)
    assert OAuthConnectorPlugin().external_views == []  # one menu entry, not two
    (app,) = OAuthConnectorPlugin().react_apps
    digest = hashlib.sha256(script).hexdigest()[:16]
    assert app == {
        "name": "OAuth profiles",
        "bundle_url": f"/team-a/oauth-connector/static/oauth-profiles.js?v={digest}",
        "url_route": "oauth-profiles",
        "category": "admin",
        "destination": "nav",
    }
    (tmp_path / bundle.BUNDLE_NAME).write_bytes(script + b"\n")  # rebuilt: a new URL, so no stale cache
    assert OAuthConnectorPlugin().react_apps[0]["bundle_url"] != app["bundle_url"]


def test_fastapi_app_is_built_on_access() -> None:
    (entry,) = OAuthConnectorPlugin().fastapi_apps
    assert entry["url_prefix"] == URL_PREFIX
    routes = {getattr(r, "path", "") for r in entry["app"].routes}
    assert {"/", "/callback", "/profiles/{conn_id}/authorize", "/profiles/{conn_id}/test"} <= routes
    assert {"/api/session", "/api/profiles", "/api/form", "/api/validate", "/static/oauth-profiles.js"} <= routes
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
