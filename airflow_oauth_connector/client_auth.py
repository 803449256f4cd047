"""Client authentication on token requests: a registry of Authlib's client-auth functions."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from authlib.common.urls import add_params_to_qs
from authlib.oauth2.auth import encode_client_secret_post, encode_none
from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT

from airflow_oauth_connector.exceptions import ClientAssertionError, JwtMaterialError
from airflow_oauth_connector.jwt_material import read_jwt_file
from airflow_oauth_connector.profile import ClientAuthMethod

#: ``(client, method, uri, headers, body) -> (uri, headers, body)``, Authlib's signature.
ClientAuthFunc = Callable[[Any, str, str, dict[str, str], str], tuple[str, dict[str, str], str]]

#: RFC 7523 2.2: the ``client_assertion_type`` of a JWT client assertion.
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class ClientCredentials:
    """
    What the client-auth functions read (Authlib's ``client`` argument): the id, the secret or signing key,
    and for JWT assertions the algorithm, key id, audience (the token endpoint) or assertion file.
    """

    client_id: str
    client_secret: Any = field(default=None, repr=False)
    signing_alg: str | None = None
    key_id: str | None = None
    audience: str | None = None
    assertion_file: str | None = None
    conn_id: str = ""


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


def encode_private_key_jwt(
    client: ClientCredentials, method: str, uri: str, headers: dict[str, str], body: str
) -> tuple[str, dict[str, str], str]:
    """RFC 7523 2.2 / OIDC Core 9 ``private_key_jwt``: an assertion signed with the client's private key."""
    auth = PrivateKeyJWT(client.audience or uri, headers=_kid(client), alg=client.signing_alg or "RS256")
    return _as_form(auth(client, method, uri, headers, body))


def encode_client_secret_jwt(
    client: ClientCredentials, method: str, uri: str, headers: dict[str, str], body: str
) -> tuple[str, dict[str, str], str]:
    """OIDC Core 9 ``client_secret_jwt``: an assertion signed with HMAC (HS256 by default) using the secret."""
    auth = ClientSecretJWT(client.audience or uri, headers=_kid(client), alg=client.signing_alg or "HS256")
    return _as_form(auth(client, method, uri, headers, body))


def encode_client_assertion_file(
    client: ClientCredentials, method: str, uri: str, headers: dict[str, str], body: str
) -> tuple[str, dict[str, str], str]:
    """
    A federated client assertion (e.g. a projected service-account token), read from its file now: such
    files rotate, so every token request reads the current one. Sent beside ``client_id`` (RFC 7521 4.2).
    """
    if not client.assertion_file:
        raise ClientAssertionError(client.conn_id, "client_assertion_file", "no file given")
    try:
        assertion = read_jwt_file(client.assertion_file)
    except JwtMaterialError as exc:
        raise ClientAssertionError(client.conn_id, "client_assertion_file", str(exc)) from None
    params = [
        ("client_id", client.client_id),
        ("client_assertion_type", JWT_BEARER_ASSERTION),
        ("client_assertion", assertion),
    ]
    return uri, headers, add_params_to_qs(body or "", params)


def _kid(client: ClientCredentials) -> dict[str, str] | None:
    return {"kid": client.key_id} if client.key_id else None


def _as_form(result: tuple[Any, Any, Any]) -> tuple[str, dict[str, str], str]:
    uri, headers, body = result
    return str(uri), dict(headers), str(body)


#: Methods whose assertion's ``aud`` is the token endpoint.
JWT_CLIENT_AUTH = frozenset({ClientAuthMethod.PRIVATE_KEY_JWT, ClientAuthMethod.CLIENT_SECRET_JWT})

CLIENT_AUTH_METHODS: Mapping[ClientAuthMethod, ClientAuthFunc] = {
    ClientAuthMethod.HEADER: encode_client_secret_basic,
    ClientAuthMethod.BODY: encode_client_secret_post,
    ClientAuthMethod.NONE: encode_none,
    ClientAuthMethod.PRIVATE_KEY_JWT: encode_private_key_jwt,
    ClientAuthMethod.CLIENT_SECRET_JWT: encode_client_secret_jwt,
    ClientAuthMethod.CLIENT_ASSERTION_FILE: encode_client_assertion_file,
}


def apply_client_auth(
    method: ClientAuthMethod,
    client_id: str,
    client_secret: Any,
    url: str,
    headers: dict[str, str],
    body: str,
    *,
    signing_alg: str | None = None,
    key_id: str | None = None,
    audience: str | None = None,
    assertion_file: str | None = None,
    conn_id: str = "",
) -> tuple[str, dict[str, str], str]:
    """
    Add the client credentials to a form-encoded POST to the authorization server.

    ``audience`` is the ``aud`` of JWT assertions: the token endpoint (RFC 7523 3, OIDC Core 9), also when
    the POST goes to another endpoint of the same server (PAR, device authorization). Each call signs a
    new assertion (a new ``jti``), so a retried request never replays one.
    """
    client = ClientCredentials(
        client_id,
        client_secret,
        signing_alg=signing_alg,
        key_id=key_id,
        audience=audience,
        assertion_file=assertion_file,
        conn_id=conn_id,
    )
    new_url, new_headers, new_body = CLIENT_AUTH_METHODS[method](client, "POST", url, dict(headers), body)
    return str(new_url), dict(new_headers), str(new_body)


def apply_profile_client_auth(
    profile: Any, url: str, headers: dict[str, str], body: str, *, token_endpoint: str
) -> tuple[str, dict[str, str], str]:
    """:func:`apply_client_auth` with everything taken from an ``OAuthProfile``."""
    return apply_client_auth(
        profile.client_auth,
        profile.client_id,
        profile.signing_key if profile.signing_key is not None else profile.client_secret,
        url,
        headers,
        body,
        signing_alg=profile.signing_alg,
        key_id=profile.key_id,
        audience=token_endpoint,
        assertion_file=profile.client_assertion_file,
        conn_id=profile.conn_id,
    )
