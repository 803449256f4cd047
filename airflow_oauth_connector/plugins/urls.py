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


def public_base_url() -> str:
    """
    Airflow's public base URL, from configuration only (never from a request's ``Host`` header):
    ``[oauth_connector] callback_base_url``, else ``[api] base_url``, else ``http://localhost:<[api] port>``.
    """
    configured = config.callback_base_url() or config.api_base_url()
    if configured:
        return configured.rstrip("/")
    return f"http://localhost:{config.airflow_option('api', 'port') or 8080}"


def default_callback_url() -> str:
    """The plugin's callback URL to register at providers: ``<public base URL>/oauth-connector/callback``."""
    from airflow_oauth_connector.plugins import URL_PREFIX

    return f"{public_base_url()}{URL_PREFIX}{CALLBACK_PATH}"


def redirect_uri_for(profile: OAuthProfile) -> str:
    """The redirect URI of ``profile``'s authorization requests: its ``redirect_uri`` field, else the callback."""
    return profile.redirect_uri or default_callback_url()
