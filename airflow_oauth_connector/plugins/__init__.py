"""
The Airflow plugin of the provider: an "OAuth profiles" page in the Airflow UI (Admin menu).

The page is native: a React bundle (``react_apps``) that Airflow's UI imports into its own page at
``/plugin/oauth-profiles``, talking to the plugin's JSON API. Where the bundle was not built, the menu entry
opens the server-rendered page instead (``external_views``); that page stays reachable at
``/oauth-connector/`` either way.

Registered through the ``airflow.plugins`` entry point, so **every** Airflow process that loads plugins
(schedulers, workers, every task process) imports this module. It therefore imports nothing but the
plugin base class, which ``airflow.sdk`` has already loaded: the web application (FastAPI, the routes,
the HTML pages, the bundle) is looked at only when the api-server asks for the properties below.
"""

from __future__ import annotations

from typing import Any

try:  # Airflow 3.2+
    from airflow.sdk.plugins_manager import AirflowPlugin
except ImportError:  # Airflow 3.1: the base class lives in the core's plugins manager (already imported by then)
    from airflow.plugins_manager import AirflowPlugin  # type: ignore[no-redef,assignment,unused-ignore]

URL_PREFIX = "/oauth-connector"
"""Where the api-server mounts the plugin's web app (under Airflow's own base path)."""

MENU_NAME = "OAuth profiles"


class OAuthConnectorPlugin(AirflowPlugin):
    """Adds the "OAuth profiles" page: status of every OAuth connection, Add / Edit / Authorize / Test / Forget."""

    name = "oauth_connector"

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The page's FastAPI app, built on first access (only the api-server asks)."""
        from airflow_oauth_connector.plugins.app import get_app

        return [{"app": get_app(), "url_prefix": URL_PREFIX, "name": MENU_NAME}]

    @property
    def react_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The native page (Admin menu), when its bundle was built; else none (see :attr:`external_views`)."""
        from airflow_oauth_connector.plugins import bundle
        from airflow_oauth_connector.plugins.urls import airflow_base_path

        if not bundle.available():
            return []
        return [bundle.react_app(name=MENU_NAME, airflow_base=airflow_base_path(), url_prefix=URL_PREFIX)]

    @property
    def external_views(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """
        The fallback Admin-menu entry, only without a built bundle: the server-rendered page. It has no
        ``url_route`` on purpose: Airflow shows such views in a sandboxed iframe that may neither navigate
        the top window nor open pop-ups, and authorization servers refuse to be framed
        (``X-Frame-Options: DENY``), so the page opens as a page of its own (a new tab).
        """
        from airflow_oauth_connector.plugins import bundle
        from airflow_oauth_connector.plugins.urls import airflow_base_path

        if bundle.available():
            return []
        return [
            {
                "name": MENU_NAME,
                "href": f"{airflow_base_path()}{URL_PREFIX}/",
                "category": "admin",
                "destination": "nav",
            }
        ]


__all__ = ["MENU_NAME", "URL_PREFIX", "OAuthConnectorPlugin"]
