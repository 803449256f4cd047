"""Client authentication on token requests: a registry of Authlib's client-auth functions."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus

from authlib.oauth2.auth import ClientAuth, encode_client_secret_post, encode_none

from airflow_oauth_connector.profile import ClientAuthMethod

#: ``(client, method, uri, headers, body) -> (uri, headers, body)``, Authlib's signature.
ClientAuthFunc = Callable[[Any, str, str, dict[str, str], str], tuple[str, dict[str, str], str]]


def encode_client_secret_basic(
    client: Any, method: str, uri: str, headers: dict[str, str], body: str
) -> tuple[str, dict[str, str], str]:
    """
    HTTP Basic with the id and secret form-encoded first, as RFC 6749 2.3.1 requires.

    Authlib's own version skips the form-encoding; for the usual alphanumeric credentials both are
    identical, and for secrets with ``+``, ``%``, ``:`` or non-ASCII characters only this one works
    with servers that follow the RFC.
    """
    pair = f"{quote_plus(client.client_id)}:{quote_plus(client.client_secret or '')}"
    headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("ascii")).decode("ascii")
    return uri, headers, body


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
