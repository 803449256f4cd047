"""
The authorization service shared by the CLI and the OAuth profiles page: start (the URL), then finish (exchange, save).

``start`` checks that the connection is one a person authorizes, finds its authorization endpoint (field or
issuer metadata) and builds the request (PKCE S256, ``state``); the caller sends the person there and keeps
the :class:`~airflow_oauth_connector.grants.AuthorizationRequest`'s verifier. The redirect is parsed by
:func:`~airflow_oauth_connector.authorization.callback.parse_callback`; ``finish`` exchanges its code and
records the token (:func:`~airflow_oauth_connector.authorization.commands.save_authorization`).
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow_oauth_connector import capture
from airflow_oauth_connector.authorization.callback import Callback
from airflow_oauth_connector.authorization.commands import save_authorization
from airflow_oauth_connector.authorization.read_model import ProfileStatus, connection_status
from airflow_oauth_connector.exceptions import AuthorizationError
from airflow_oauth_connector.grants import AuthorizationRequest
from airflow_oauth_connector.profile import GrantType, OAuthProfile
from airflow_oauth_connector.token import Token
from airflow_oauth_connector.token_client import TokenClient


def check_authorizable(profile: OAuthProfile) -> None:
    """:class:`AuthorizationError` unless ``profile`` uses a grant that a person authorizes."""
    if profile.grant_type is not GrantType.AUTHORIZATION_CODE:
        raise AuthorizationError(
            f"Connection {profile.conn_id!r} uses the {profile.grant_type.value} grant, which needs no authorization "
            f"by a person; set its grant type to authorization_code to authorize it"
        )


def authorize_url(client: TokenClient) -> str:
    """The authorization endpoint (field, else issuer metadata); :class:`AuthorizationError` if there is none."""
    url = client.endpoints.authorize_url
    if not url:
        raise AuthorizationError(
            f"Connection {client.profile.conn_id!r} has no authorization URL (field 'authorize_url'), and "
            f"its issuer's metadata names no authorization_endpoint"
        )
    return url


def start(
    profile: OAuthProfile,
    redirect_uri: str | None,
    *,
    client: TokenClient | None = None,
    state: str | None = None,
) -> AuthorizationRequest:
    """The authorization request to send a person to (its ``state`` and verifier are for :func:`finish`)."""
    check_authorizable(profile)
    client = client or TokenClient(profile)
    authorize_url(client)  # fails naming the field when there is none
    # PKCE, state, OIDC nonce, resource indicators; pushed to the server first when PAR applies (RFC 9126)
    return client.authorization_request(redirect_uri=redirect_uri, state=state)


def exchange(
    profile: OAuthProfile,
    callback: Callback,
    code_verifier: str | None,
    redirect_uri: str | None,
    *,
    client: TokenClient | None = None,
    nonce: str | None = None,
) -> Token:
    """
    The token for a verified callback's code (with the request's PKCE verifier, redirect URI and OpenID
    Connect nonce, which the answer's ID Token must carry), with the values the connection keeps captured
    (callback parameters such as ``realmId``, a post-authorization call).
    """
    client = client or TokenClient(profile)
    capture.callback_values(profile, callback.params)  # refuse a redirect without them before the code is spent
    token = client.exchange_code(callback.code, code_verifier=code_verifier, redirect_uri=redirect_uri, nonce=nonce)
    return capture.complete(profile, token, callback.params, client)


def finish(
    profile: OAuthProfile,
    callback: Callback,
    code_verifier: str | None,
    redirect_uri: str | None,
    *,
    client: TokenClient | None = None,
    nonce: str | None = None,
) -> ProfileStatus:
    """Exchange the callback's code, record the token with the connection and its store, return the new status."""
    token = exchange(profile, callback, code_verifier, redirect_uri, client=client, nonce=nonce)
    save_authorization(profile.conn_id, token)
    return connection_status(profile.conn_id)


def exchange_and_save(
    profile: OAuthProfile,
    code: str,
    code_verifier: str | None,
    redirect_uri: str | None,
    *,
    client: TokenClient | None = None,
    callback_params: Mapping[str, str] | None = None,
    nonce: str | None = None,
) -> ProfileStatus:
    """:func:`finish` for a bare code and the redirect's parameters (for callers that parsed it themselves)."""
    callback = Callback(code=code, params=dict(callback_params or {profile.code_param: code}))
    return finish(profile, callback, code_verifier, redirect_uri, client=client, nonce=nonce)
