"""``oauth_connector`` connections for the test server's clients, as Airflow reads them from the environment."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.authserver.runner import AuthServer

CLIENT_SECRET = object()
"""Default of ``secret``: the client's own secret (pass ``None`` for no password, or another string)."""


def connection(
    server: AuthServer,
    client: str = "cc",
    *,
    host: str | None = None,
    access_url: str | None = None,
    secret: Any = CLIENT_SECRET,
    scope: str | None = "read write",
    **extra: Any,
) -> dict[str, Any]:
    """The connection as a dict: the server's API and token endpoint, the client's credentials, ``extra``."""
    c = server.client(client)
    fields: dict[str, Any] = {"access_url": server.token_url if access_url is None else access_url}
    if scope is not None:
        fields["scope"] = scope
    fields.update(extra)
    return {
        "conn_type": "oauth_connector",
        "host": host or server.api_base,
        "login": c.client_id,
        "password": c.client_secret if secret is CLIENT_SECRET else secret,
        "extra": fields,
    }


def connection_env(conn_id: str, body: dict[str, Any]) -> dict[str, str]:
    """``{"AIRFLOW_CONN_<ID>": <JSON>}`` for ``body``."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(body)}
