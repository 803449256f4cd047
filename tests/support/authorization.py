"""
Builders of the authorization tests: connection extras, stored connections with sentinel secrets, tokens.

The secrets are sentinels (:data:`SECRETS`) so a test can assert that none of them reached a text.
Connections are written to whatever metadata DB is bound (see :mod:`tests.support.connection_table`).
"""

from __future__ import annotations

from typing import Any

from airflow_oauth_connector.token import Token
from tests.support import builders, connection_table

SECRET = "client-secret-SENTINEL-4242"
ACCESS = "access-token-SENTINEL-1111"
REFRESH = "refresh-token-SENTINEL-2222"
OLD_REFRESH = "refresh-token-SENTINEL-OLD-3333"
SECRETS = (SECRET, ACCESS, REFRESH, OLD_REFRESH)


def extra_for(grant: str = "authorization_code", **more: Any) -> dict[str, Any]:
    """An authorization-code connection's extra (auth.example.com, scope "read write"), with ``more``."""
    extra: dict[str, Any] = {
        "grant_type": grant,
        "access_url": "https://auth.example.com/oauth/token",
        "authorize_url": "https://auth.example.com/oauth/authorize",
        "scope": "read write",
    }
    extra.update(more)
    return extra


def add_connection(extra: dict[str, Any] | None = None, *, conn_type: str = "oauth_connector") -> str:
    """A stored connection whose password is :data:`SECRET`; its id."""
    return connection_table.add_connection(
        extra_for() if extra is None else extra, conn_type=conn_type, password=SECRET, prefix="authz"
    )


def db_extra(conn_id: str) -> dict[str, Any]:
    """The stored extra; asserts that the password is still the client secret."""
    return connection_table.stored_extra(conn_id, password=SECRET)


def authorized_token(*, refresh: str | None = REFRESH, lifetime: float = 3600.0) -> Token:
    return builders.make_token(ACCESS, refresh=refresh, lifetime=lifetime, scope="read write")


def assert_secret_free(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
