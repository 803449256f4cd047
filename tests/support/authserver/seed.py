"""Create the demo user and OAuth applications (idempotent).

Client ids are fixed and readable; client secrets and the user's password are
fresh random strings on every start (reported only in the ready file).
"""

from __future__ import annotations

import secrets
from typing import Any

DEFAULT_REDIRECT_URIS = [
    # RFC 8252 loopback redirects: DOT ignores the port of a registered
    # http://127.0.0.1 / http://[::1] URI, and (ALLOW_LOCALHOST_LOOPBACK) of
    # http://localhost, so any port works; the PATH must match exactly.
    "http://127.0.0.1/callback",
    "http://[::1]/callback",
    "http://localhost/callback",
    "http://127.0.0.1/oauth-connector/callback",
    "http://localhost/oauth-connector/callback",
    "https://airflow.example.test/oauth-connector/callback",
]

USERNAME = "alice"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def seed(*, redirect_uris: list[str], device_enabled: bool) -> dict[str, Any]:
    """Return ``{"user": {...}, "clients": {name: {...}}}`` (includes secrets)."""
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import get_application_model

    from . import settings as server_settings

    Application = get_application_model()
    User = get_user_model()

    password = secrets.token_urlsafe(24)
    user, _ = User.objects.get_or_create(username=USERNAME, defaults={"email": "alice@example.test"})
    user.set_password(password)
    user.save()

    uris = list(dict.fromkeys(DEFAULT_REDIRECT_URIS + list(redirect_uris)))

    specs = {
        "cc": dict(
            client_id="demo-cc-client",
            name="Demo client credentials client",
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            redirect_uris=[],
            grant_types=["client_credentials"],
            algorithm=Application.NO_ALGORITHM,
        ),
        "ac": dict(
            client_id="demo-ac-client",
            name="Demo authorization code client",
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=uris,
            grant_types=["authorization_code", "refresh_token"],
            algorithm=Application.RS256_ALGORITHM,
        ),
        "public": dict(
            client_id="demo-public-client",
            name="Demo public client",
            client_type=Application.CLIENT_PUBLIC,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=uris,
            grant_types=["authorization_code", "refresh_token"],
            algorithm=Application.RS256_ALGORITHM,
        ),
    }
    if device_enabled:
        specs["device"] = dict(
            client_id="demo-device-client",
            name="Demo device client",
            client_type=Application.CLIENT_PUBLIC,
            authorization_grant_type=Application.GRANT_DEVICE_CODE,
            redirect_uris=[],
            grant_types=[DEVICE_GRANT, "refresh_token"],
            algorithm=Application.NO_ALGORITHM,
        )

    clients: dict[str, Any] = {}
    for key, spec in specs.items():
        confidential = spec["client_type"] == Application.CLIENT_CONFIDENTIAL
        secret = secrets.token_urlsafe(48) if confidential else ""
        Application.objects.update_or_create(
            client_id=spec["client_id"],
            defaults=dict(
                name=spec["name"],
                client_type=spec["client_type"],
                authorization_grant_type=spec["authorization_grant_type"],
                client_secret=secret,
                # Plaintext storage: avoids a password hash per token request.
                hash_client_secret=False,
                redirect_uris=" ".join(spec["redirect_uris"]),
                post_logout_redirect_uris="",
                skip_authorization=False,
                algorithm=spec["algorithm"],
                user=user,
            ),
        )
        pkce_required = spec["client_type"] == Application.CLIENT_PUBLIC and key != "device"
        if pkce_required:
            server_settings.PKCE_REQUIRED_CLIENT_IDS.add(spec["client_id"])
        clients[key] = {
            "client_id": spec["client_id"],
            "client_secret": secret or None,
            "client_type": spec["client_type"],
            "redirect_uris": spec["redirect_uris"],
            "grant_types": spec["grant_types"],
            "pkce_required": pkce_required,
        }
    return {"user": {"username": USERNAME, "password": password}, "clients": clients}
