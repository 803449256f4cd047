"""The native page's bundle: built or not, its content-hash version, its react_apps entry and page path."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_oauth_connector.plugins import bundle


@pytest.fixture
def dist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(bundle, "DIST_DIR", tmp_path)
    return tmp_path


def test_only_a_non_empty_bundle_counts_as_built(dist: Path) -> None:
    assert not bundle.available()
    (dist / bundle.BUNDLE_NAME).write_text("")
    assert not bundle.available()
    (dist / bundle.BUNDLE_NAME).write_text("globalThis.AirflowPlugin = 1;\n")
    assert bundle.available()


def test_the_version_follows_the_content(dist: Path) -> None:
    path = dist / bundle.BUNDLE_NAME
    path.write_text("one();\n")
    first = bundle.version()
    assert len(first) == 16
    assert bundle.version() == first  # the same file: the same version
    path.write_text("two(); // a longer build\n")
    assert bundle.version() != first


def test_react_app_entry_is_an_admin_page_with_a_versioned_bundle_url(dist: Path) -> None:
    (dist / bundle.BUNDLE_NAME).write_text("x();\n")
    entry = bundle.react_app(name="OAuth profiles", airflow_base="/team-a", url_prefix="/oauth-connector")
    assert entry == {
        "name": "OAuth profiles",
        "bundle_url": f"/team-a/oauth-connector/static/oauth-profiles.js?v={bundle.version()}",
        "url_route": "oauth-profiles",
        "category": "admin",
        "destination": "nav",
    }
    assert bundle.native_page_path("/team-a") == "/team-a/plugin/oauth-profiles"
    assert bundle.native_page_path("") == "/plugin/oauth-profiles"
