"""Provider metadata for Airflow: the ``oauth_connector`` connection type and its form."""

from __future__ import annotations

from typing import Any

from airflow_oauth_connector.config import StoreBackend, provider_config

# Extra keys are named so that Airflow's secrets masker (which hides any key *containing* a word like
# "token", "secret", "authorization") masks the secrets and leaves URLs and settings readable.
_STRING = ["string", "null"]

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "grant_type": {
        "label": "Grant type",
        "description": "client_credentials (machine to machine) or authorization_code (a person authorizes once).",
        "schema": {
            "type": _STRING,
            "enum": ["client_credentials", "authorization_code"],
            "default": "client_credentials",
        },
    },
    "access_url": {
        "label": "Access token URL",
        "description": "The token endpoint, e.g. https://auth.example.com/oauth/token (https; http only for loopback).",
        "schema": {"type": _STRING, "format": "url"},
    },
    "authorize_url": {
        "label": "Authorization URL",
        "description": "The authorization endpoint (authorization_code only), e.g. https://auth.example.com/oauth/authorize.",
        "schema": {"type": _STRING, "format": "url"},
    },
    "scope": {
        "label": "Scope",
        "description": "Space-separated scopes to request, e.g. 'read write'.",
        "schema": {"type": _STRING},
    },
    "client_auth": {
        "label": "Client credentials",
        "description": "How the client ID and secret reach the token endpoint: header (HTTP Basic), body "
        "(form fields), or none (public client; PKCE recommended).",
        "schema": {"type": _STRING, "enum": ["header", "body", "none"], "default": "header"},
    },
    "access_params": {
        "label": "Token parameters",
        "description": 'Extra parameters on every token request, refreshes included: {"query": {...}, '
        '"headers": {...}, "body": {...}}, e.g. {"body": {"audience": "https://api.example.com"}}.',
        "schema": {"type": _STRING, "format": "multiline"},
    },
    "authorize_params": {
        "label": "Auth parameters",
        "description": 'Extra query parameters of the authorization request, e.g. {"access_type": "offline", '
        '"prompt": "consent"}.',
        "schema": {"type": _STRING, "format": "multiline"},
    },
    "redirect_uri": {
        "label": "Redirect URI",
        "description": "The callback registered at the provider (authorization_code). Leave empty to use the "
        "one the OAuth profiles page shows.",
        "schema": {"type": _STRING, "format": "url"},
    },
    "pkce": {
        "label": "PKCE (S256)",
        "description": "Send a PKCE code challenge with the authorization request (RFC 7636). Keep on unless the "
        "provider rejects it.",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "issuer_url": {
        "label": "Issuer URL (discovery)",
        "description": "Optional. Token and authorization URLs left empty are read from the issuer's "
        "/.well-known/oauth-authorization-server or /.well-known/openid-configuration.",
        "schema": {"type": _STRING, "format": "url"},
    },
    "device_url": {
        "label": "Device authorization URL",
        "description": "Optional. For headless authorization with `airflow-oauth-connector authorize --device` "
        "(RFC 8628); else read from the issuer's metadata.",
        "schema": {"type": _STRING, "format": "url"},
    },
    "store_backend": {
        "label": "Token store",
        "description": "Where tokens are kept and shared: file (one machine, the default), redis (many hosts), "
        "variables (Airflow Variables, no lock) or memory (per process). Empty: the provider-wide "
        "[oauth_connector] token_store option.",
        "schema": {"type": _STRING, "enum": list(StoreBackend.names())},
    },
    "refresh_token": {
        "label": "Refresh token",
        "description": "Set by the Authorize flow (authorization_code); may also be pasted here.",
        "schema": {"type": _STRING, "format": "password"},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"host": "API base URL", "login": "Client ID", "password": "Client secret"},
    "placeholders": {
        "host": "https://api.example.com/v1",
        "login": "client ID issued by the provider",
        "password": "client secret (leave empty for a public client)",
    },
}


def get_provider_info() -> dict[str, Any]:
    """Entry point ``apache_airflow_provider``: metadata read by Airflow's providers manager."""
    return {
        "package-name": "airflow-oauth-connector",
        "name": "OAuth 2.0 API Connector",
        "description": "Any OAuth 2.0-protected REST API as an Airflow connection: tokens fetched, cached, "
        "refreshed and retried for you.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "OAuth 2.0 API",
                "external-doc-url": "https://datatracker.ietf.org/doc/html/rfc6749",
                "tags": ["protocol"],
            }
        ],
        "hooks": [
            {
                "integration-name": "OAuth 2.0 API",
                "python-modules": ["airflow_oauth_connector.hooks.oauth"],
            }
        ],
        "config": provider_config(),
        "cli": ["airflow_oauth_connector.cli.get_cli_commands"],
        "connection-types": [
            {
                "hook-class-name": "airflow_oauth_connector.hooks.oauth.OAuthConnectorHook",
                "hook-name": "OAuth 2.0 API",
                "connection-type": "oauth_connector",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
