"""
The native page's JavaScript bundle: where it is, whether it was built, its version, its ``react_apps`` entry.

The bundle is built from ``ui/`` (``npm ci && npm run build``, see ``scripts/build_ui.sh``) into
``airflow_oauth_connector/plugins/ui_dist/``, which the wheel ships. Airflow's UI imports it into its own
page (``react_apps``, Airflow 3.1+): a UMD script that registers its React component as
``globalThis.AirflowPlugin`` and takes React from the host page. Without a built bundle (a source checkout
without npm) the plugin registers the server-rendered page instead (an ``external_views`` menu entry).
Only the api-server asks for any of this; task processes never import this module.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

DIST_DIR = Path(__file__).resolve().parent / "ui_dist"
BUNDLE_NAME = "oauth-profiles.js"
STATIC_PATH = "/static"
"""Where the plugin's app serves the bundle (under the plugin's URL prefix)."""
URL_ROUTE = "oauth-profiles"
"""The native page's route in Airflow's UI: ``<Airflow base>/plugin/oauth-profiles``."""


def bundle_file() -> Path:
    return DIST_DIR / BUNDLE_NAME


def available() -> bool:
    """Whether the bundle was built (a non-empty file)."""
    path = bundle_file()
    return path.is_file() and path.stat().st_size > 0


def version() -> str:
    """A short content hash of the bundle (its URL changes when its content does, so it may be cached)."""
    path = bundle_file()
    stat = path.stat()
    return _content_hash(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _content_hash(path: Path, _mtime_ns: int, _size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def native_page_path(airflow_base: str) -> str:
    """The native page inside Airflow's UI, e.g. ``/team-a/plugin/oauth-profiles``."""
    return f"{airflow_base}/plugin/{URL_ROUTE}"


def react_app(*, name: str, airflow_base: str, url_prefix: str) -> dict[str, str]:
    """The plugin's ``react_apps`` entry: an Admin-menu page inside Airflow's UI."""
    return {
        "name": name,
        "bundle_url": f"{airflow_base}{url_prefix}{STATIC_PATH}/{BUNDLE_NAME}?v={version()}",
        "url_route": URL_ROUTE,
        "category": "admin",
        "destination": "nav",
    }
