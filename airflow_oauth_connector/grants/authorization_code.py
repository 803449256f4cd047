"""Authorization code grant (RFC 6749 section 4.1): the authorization request with PKCE S256, and the code exchange."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from airflow_oauth_connector.profile import OAuthProfile


def authorization_code_params(code: str, redirect_uri: str | None, code_verifier: str | None) -> dict[str, str]:
    params = {"grant_type": "authorization_code", "code": code}
    if redirect_uri:
        params["redirect_uri"] = redirect_uri
    if code_verifier:
        params["code_verifier"] = code_verifier
    return params


@dataclass(frozen=True)
class AuthorizationRequest:
    """An authorization URL to send a person to, and what the callback needs to finish the grant."""

    url: str
    state: str = field(repr=False)
    code_verifier: str | None = field(default=None, repr=False)
    redirect_uri: str | None = None
    nonce: str | None = field(default=None, repr=False)
    """OpenID Connect: the nonce sent when the scope holds ``openid`` (OIDC Core 3.1.2.1)."""
    pushed: bool = False
    """The parameters went to the server first (RFC 9126); ``url`` carries only ``client_id`` + ``request_uri``."""


def build_authorization_request(
    profile: OAuthProfile,
    authorize_url: str,
    *,
    redirect_uri: str | None = None,
    state: str | None = None,
    extra_params: Mapping[str, str] | None = None,
) -> AuthorizationRequest:
    """
    The authorization request (RFC 6749 4.1.1) with the profile's auth parameters and PKCE S256.

    The profile's auth parameters may add to the request but never replace the protocol parameters.
    """
    redirect = redirect_uri or profile.redirect_uri
    state = state or generate_token(32)
    verifier = generate_token(64) if profile.pkce else None
    params: dict[str, str | list[str]] = dict(profile.authorize_params)
    params.update(extra_params or {})
    params.update({"response_type": "code", "client_id": profile.client_id, "state": state})
    if redirect:
        params["redirect_uri"] = redirect
    if profile.scope:
        params["scope"] = profile.scope
    if verifier:
        params["code_challenge"] = create_s256_code_challenge(verifier)
        params["code_challenge_method"] = "S256"
    if profile.resource:
        params["resource"] = list(profile.resource)  # RFC 8707 2.1
    nonce = str(params.get("nonce") or "") or None
    if nonce is None and profile.openid:
        nonce = generate_token(32)
        params["nonce"] = nonce
    parts = urlsplit(authorize_url)
    encoded = urlencode(params, doseq=True)
    query = f"{parts.query}&{encoded}" if parts.query else encoded
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    return AuthorizationRequest(url=url, state=state, code_verifier=verifier, redirect_uri=redirect, nonce=nonce)


def pushed_authorization_request(
    request: AuthorizationRequest, authorize_url: str, client_id: str, request_uri: str
) -> AuthorizationRequest:
    """The browser's URL after a pushed authorization request (RFC 9126 4): ``client_id`` and ``request_uri`` only."""
    parts = urlsplit(authorize_url)
    encoded = urlencode({"client_id": client_id, "request_uri": request_uri})
    query = f"{parts.query}&{encoded}" if parts.query else encoded
    return dataclasses.replace(
        request, url=urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")), pushed=True
    )
