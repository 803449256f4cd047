"""The bundle's static route: 404 until built, JavaScript with nosniff, cached for good only at its version."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from airflow_oauth_connector.plugins import bundle
from tests.support.plugin_app import plugin_app


@pytest.fixture
def dist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(bundle, "DIST_DIR", tmp_path)
    return tmp_path


def test_the_bundle_is_public_javascript_cached_only_at_its_version(dist: Path) -> None:
    http = TestClient(plugin_app(None, True))  # signed out: code only, and Airflow's UI imports it
    missing = http.get("/static/oauth-profiles.js")
    assert missing.status_code == 404
    assert "npm ci &amp;&amp; npm run build" in missing.text  # the HTML error page says how to build it
    (dist / bundle.BUNDLE_NAME).write_text("globalThis.AirflowPlugin = () => null;\n")
    current = http.get(f"/static/oauth-profiles.js?v={bundle.version()}")
    assert current.status_code == 200
    assert current.headers["content-type"] == "text/javascript; charset=utf-8"
    assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert current.headers["x-content-type-options"] == "nosniff"
    assert current.headers["x-frame-options"] == "DENY"
    assert current.text.startswith("globalThis.AirflowPlugin")
    for stale in ("/static/oauth-profiles.js?v=old", "/static/oauth-profiles.js"):
        assert http.get(stale).headers["cache-control"] == "no-cache"
