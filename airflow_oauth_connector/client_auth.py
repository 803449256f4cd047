"""Client authentication on token requests: a registry of Authlib's client-auth functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from authlib.oauth2.auth import ClientAuth, encode_client_secret_basic, encode_client_secret_post, encode_none

from airflow_oauth_connector.profile import ClientAuthMethod

#: ``(client, method, uri, headers, body) -> (uri, headers, body)``, Authlib's signature.
ClientAuthFunc = Callable[[Any, str, str, dict[str, str], str], tuple[str, dict[str, str], str]]

CLIENT_AUTH_METHODS: Mapping[ClientAuthMethod, ClientAuthFunc] = {
    ClientAuthMethod.HEADER: encode_client_secret_basic,
    ClientAuthMethod.BODY: encode_client_secret_post,
    ClientAuthMethod.NONE: encode_none,
}


def apply_client_auth(
    method: ClientAuthMethod,
    client_id: str,
    client_secret: str | None,
    url: str,
    headers: dict[str, str],
    body: str,
) -> tuple[str, dict[str, str], str]:
    """Add the client credentials to a form-encoded POST to the token endpoint."""
    auth = ClientAuth(client_id, client_secret, auth_method=CLIENT_AUTH_METHODS[method])
    new_url, new_headers, new_body = auth.prepare("POST", url, headers, body)
    return str(new_url), dict(new_headers), str(new_body)
