"""Where the plugin lives: Airflow's base path, and the callback URL to register at providers."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow_oauth_connector import config

if TYPE_CHECKING:
    from airflow_oauth_connector.profile import OAuthProfile

CALLBACK_PATH = "/callback"


def airflow_base_path() -> str:
    """The path part of ``[api] base_url`` without a trailing slash (``""`` when Airflow is served at ``/``)."""
    try:
        base_url = config.api_base_url()
    except Exception:  # configuration not readable: assume Airflow is served at the root
        base_url = None
    path = urlsplit(base_url).path if base_url else ""
    return path.rstrip("/")


def default_callback_url(plugin_base_url: str) -> str:
    """
    The plugin's callback URL.

    ``plugin_base_url`` is where the plugin is reached for the current request (e.g.
    ``http://127.0.0.1:8080/oauth-connector``); ``[oauth_connector] callback_base_url`` (Airflow's public
    base URL, e.g. ``https://airflow.example.com``, for deployments behind a proxy) takes precedence.
    """
    from airflow_oauth_connector.plugins import URL_PREFIX

    configured = config.callback_base_url()
    if configured:
        return f"{configured}{URL_PREFIX}{CALLBACK_PATH}"
    return f"{plugin_base_url.rstrip('/')}{CALLBACK_PATH}"


def redirect_uri_for(profile: OAuthProfile, plugin_base_url: str) -> str:
    """The redirect URI of ``profile``'s authorization requests: its ``redirect_uri`` field, else the callback."""
    return profile.redirect_uri or default_callback_url(plugin_base_url)
