"""Provider metadata for Airflow: the ``oauth_connector`` connection type and its form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_oauth_connector.config import StoreBackend, provider_config

# Read by Airflow while it configures itself: nothing here may import Airflow (the presets package does).
_PRESETS = sorted(path.stem for path in (Path(__file__).parent / "presets").glob("*.yaml"))

# Extra keys are named so that Airflow's secrets masker (which hides any key *containing* a word like
# "token", "secret", "authorization") masks the secrets and leaves URLs and settings readable.
_STRING = ["string", "null"]

_OBJECT = {"type": _STRING, "format": "multiline"}

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "provider": {
        "label": "Provider",
        "description": "A preset fills every setting below with the provider's real values (custom: none). "
        "Any field you set yourself wins. See the README's provider table.",
        "schema": {"type": _STRING, "enum": ["custom", *_PRESETS], "default": "custom"},
    },
    "provider_params": {
        "label": "Provider parameters",
        "description": 'What the preset needs, as JSON, e.g. {"tenant": "contoso.onmicrosoft.com"} (microsoft), '
        '{"region": "eu"} (zoho), {"shop": "acme.myshopify.com"} (shopify).',
        "schema": _OBJECT,
    },
    "grant_type": {
        "label": "Grant type",
        "description": "client_credentials (machine to machine), authorization_code (a person authorizes once), "
        "jwt_bearer (a service-account key signs an assertion, RFC 7523), custom (a provider's own grant_type, "
        "see custom_grant_type), password (legacy resource-owner password), token_exchange (RFC 8693: exchange a "
        "workload's identity token from 'Subject token file').",
        "schema": {
            "type": _STRING,
            "enum": ["client_credentials", "authorization_code", "jwt_bearer", "custom", "password", "token_exchange"],
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
        "description": "How the client authenticates at the token endpoint: header (HTTP Basic), body "
        "(form fields), none (public client; PKCE recommended), private_key_jwt (RFC 7523 assertion signed "
        "with the private key, PEM or JWK, in the Client secret field), client_secret_jwt (HS256 over the "
        "secret) or client_assertion_file (a federated JWT read from 'Client assertion file').",
        "schema": {
            "type": _STRING,
            "enum": ["header", "body", "none", "private_key_jwt", "client_secret_jwt", "client_assertion_file"],
            "default": "header",
        },
    },
    "signing_alg": {
        "label": "Assertion signing algorithm",
        "description": "JWS algorithm of private_key_jwt (default RS256; also PS256, ES256, EdDSA, ...) or "
        "client_secret_jwt (default HS256) assertions.",
        "schema": {"type": _STRING},
    },
    "key_id": {
        "label": "Assertion key ID",
        "description": "The 'kid' the provider registered for the client's key (default: the JWK's kid).",
        "schema": {"type": _STRING},
    },
    "client_assertion_file": {
        "label": "Client assertion file",
        "description": "client_assertion_file: path of a JWT issued to the workload (e.g. a projected "
        "service-account token); read again at every token request.",
        "schema": {"type": _STRING},
    },
    "subject_token_file": {
        "label": "Subject token file",
        "description": "token_exchange: path of the workload's identity token (a JWT), read again at every "
        "token request. Airflow masks this field by its name; it holds a path, not a secret.",
        "schema": {"type": _STRING},
    },
    "subject_token_type": {
        "label": "Subject token type",
        "description": "token_exchange: default urn:ietf:params:oauth:token-type:jwt.",
        "schema": {"type": _STRING},
    },
    "requested_token_type": {
        "label": "Requested token type",
        "description": "token_exchange, optional, e.g. urn:ietf:params:oauth:token-type:access_token.",
        "schema": {"type": _STRING},
    },
    "audience": {
        "label": "Audience",
        "description": "token_exchange, optional: the logical name of the target service (RFC 8693 2.1).",
        "schema": {"type": _STRING},
    },
    "dpop": {
        "label": "DPoP-bound tokens",
        "description": "RFC 9449: request tokens bound to a key pair kept with the token, and send a fresh DPoP "
        "proof with every API request (Authorization: DPoP <token>).",
        "schema": {"type": ["boolean", "null"], "default": False},
    },
    "par": {
        "label": "Pushed authorization requests",
        "description": "RFC 9126: push the authorization request to the server first (needs 'issuer_url'). Done "
        "anyway when the server's metadata requires it.",
        "schema": {"type": ["boolean", "null"], "default": False},
    },
    "resource": {
        "label": "Resource indicators",
        "description": "RFC 8707: space-separated absolute URIs of the APIs the token is for; sent on "
        "authorization and token requests.",
        "schema": {"type": _STRING},
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
    "access_body": {
        "label": "Token request body",
        "description": "form (application/x-www-form-urlencoded, the standard) or json (Notion, Atlassian, ...).",
        "schema": {"type": _STRING, "enum": ["form", "json"], "default": "form"},
    },
    "access_method": {
        "label": "Token request method",
        "description": "POST (the standard) or GET (parameters in the query string; a few legacy providers).",
        "schema": {"type": _STRING, "enum": ["POST", "GET"], "default": "POST"},
    },
    "refresh_url": {
        "label": "Refresh URL",
        "description": "Optional. A separate endpoint for refresh-token requests (default: the access-token URL).",
        "schema": {"type": _STRING, "format": "url"},
    },
    "custom_grant_type": {
        "label": "Custom grant type",
        "description": "grant_type value sent with grant type 'custom', e.g. account_credentials (Zoom).",
        "schema": {"type": _STRING},
    },
    "grant_params": {
        "label": "Grant parameters",
        "description": "Parameters of the token request that obtains a new grant (not of refreshes), e.g. "
        '{"account_id": "..."}.',
        "schema": _OBJECT,
    },
    "username": {
        "label": "Username (password grant)",
        "description": "Legacy resource-owner password grant only: the user's name.",
        "schema": {"type": _STRING},
    },
    "user_password": {
        "label": "User password (password grant)",
        "description": "Legacy resource-owner password grant only: the user's password.",
        "schema": {"type": _STRING, "format": "password"},
    },
    "jwt_subject": {
        "label": "JWT subject",
        "description": "JWT bearer grant: the 'sub' claim (the user to act as: Google domain-wide delegation, "
        "Salesforce username). The key goes in the password field (PEM, or a Google JSON key file).",
        "schema": {"type": _STRING},
    },
    "jwt_audience": {
        "label": "JWT audience",
        "description": "JWT bearer grant: the 'aud' claim (default: the token URL, or the key file's token_uri).",
        "schema": {"type": _STRING},
    },
    "jwt_issuer": {
        "label": "JWT issuer",
        "description": "JWT bearer grant: the 'iss' claim (default: the client ID, or the key file's client_email).",
        "schema": {"type": _STRING},
    },
    "response_map": {
        "label": "Token response paths",
        "description": 'Where the token response keeps its fields, as dotted paths: {"access_token": '
        '"authed_user.access_token", "refresh_token": ..., "expires": ..., "token_type": ..., "scope": ...}; '
        "a|b tries a, then b.",
        "schema": _OBJECT,
    },
    "expires_format": {
        "label": "Expiry format",
        "description": "How the response states the lifetime: seconds (expires_in), epoch, epoch_ms, timestamp "
        "(ISO 8601), or fixed (always 'default_expires_in').",
        "schema": {"type": _STRING, "enum": ["seconds", "epoch", "epoch_ms", "timestamp", "fixed"]},
    },
    "capture_response": {
        "label": "Captured response fields",
        "description": 'Token-response fields kept with the grant, name -> dotted path, e.g. {"instance_url": '
        '"instance_url"}; use them as {instance_url} in the base URL or API headers.',
        "schema": _OBJECT,
    },
    "capture_callback": {
        "label": "Captured callback parameters",
        "description": "Callback query parameters kept with the grant, e.g. realmId (use as {realmId}).",
        "schema": {"type": _STRING},
    },
    "code_param": {
        "label": "Callback code parameter",
        "description": "Name of the callback parameter holding the authorization code (default code).",
        "schema": {"type": _STRING},
    },
    "post_authorize": {
        "label": "Post-authorization call",
        "description": "One GET made with the new token after authorization, and values to keep from its JSON: "
        '{"url": "https://api.xero.com/connections", "capture": {"tenant_id": "0.tenantId"}}.',
        "schema": _OBJECT,
    },
    "api_headers": {
        "label": "API headers",
        "description": 'Fixed headers on every API call, e.g. {"Notion-Version": "2022-06-28"}; values may use '
        'captured values, e.g. {"Xero-Tenant-Id": "{tenant_id}"}.',
        "schema": _OBJECT,
    },
    "header_name": {
        "label": "Token header",
        "description": "Header that carries the access token (default Authorization), e.g. X-Shopify-Access-Token.",
        "schema": {"type": _STRING},
    },
    "header_prefix": {
        "label": "Token scheme",
        "description": "Scheme before the token (default Bearer), e.g. Zoho-oauthtoken; empty for none.",
        "schema": {"type": _STRING},
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
