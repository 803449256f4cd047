"""The token endpoint: send grant requests (with token parameters and client auth), retry, parse."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from airflow_oauth_connector import grants
from airflow_oauth_connector.client_auth import JWT_CLIENT_AUTH, apply_profile_client_auth
from airflow_oauth_connector.discovery import Endpoints, resolve_endpoints
from airflow_oauth_connector.dpop import DPoPKey, NonceMemory, nonce_loop_error, token_nonce_challenge
from airflow_oauth_connector.exceptions import (
    DPoPError,
    EndpointUnreachableError,
    GrantRefusedError,
    ProfileError,
    TokenEndpointError,
    TokenResponseError,
)
from airflow_oauth_connector.grants import authorization_code, jwt_bearer, token_exchange
from airflow_oauth_connector.id_token import IdTokenExpectation, check_id_token, expectation
from airflow_oauth_connector.profile import GrantType, OAuthProfile, TokenBody, TokenMethod, TokenRequestKind
from airflow_oauth_connector.redaction import drop_query, register_secret
from airflow_oauth_connector.retry import RetryPolicy, send_with_retry
from airflow_oauth_connector.token import Token, parse_token_body

log = logging.getLogger(__name__)

_FORM = "application/x-www-form-urlencoded"
#: A token response is a few kilobytes; anything far larger is an error page or hostile, and is not read.
MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024


class TokenClient:
    """Obtains tokens from one profile's token endpoint. Thread-safe; holds no token itself."""

    def __init__(
        self,
        profile: OAuthProfile,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.profile = profile
        self.session = session or requests.Session()
        self.retry = retry or profile.retry
        self._clock = clock
        self._sleep = sleep
        self._endpoints: Endpoints | None = None
        self._endpoints_lock = threading.Lock()
        self.dpop_nonces = NonceMemory()
        """The authorization server's latest DPoP nonces (RFC 9449 8), per origin."""

    def __repr__(self) -> str:
        return f"TokenClient(conn_id={self.profile.conn_id!r}, client_id={self.profile.client_id!r})"

    @property
    def endpoints(self) -> Endpoints:
        """The token and authorization endpoints, discovered once from the issuer when needed."""
        with self._endpoints_lock:
            if self._endpoints is None:
                self._endpoints = resolve_endpoints(self.profile, self.session)
            return self._endpoints

    def client_credentials(self) -> Token:
        return self.request_token({**self.profile.grant_params, **grants.client_credentials_params(self.profile)})

    def obtain_without_person(self) -> Token:
        """A new token from a grant that needs no person: client credentials, password, JWT bearer, custom."""
        profile = self.profile
        if profile.grant_type is GrantType.PASSWORD:
            params = {
                "grant_type": "password",
                "username": profile.username or "",
                "password": profile.user_password or "",
            }
            if profile.scope:
                params["scope"] = profile.scope
            return self.request_token({**profile.grant_params, **params})
        if profile.grant_type is GrantType.JWT_BEARER:
            token_url = self.endpoints.token_url
            return self.request_token({**profile.grant_params, **jwt_bearer.grant_params(profile, token_url)})
        if profile.grant_type is GrantType.CUSTOM:
            params = {**profile.grant_params, "grant_type": profile.custom_grant_type or ""}
            if profile.scope and "scope" not in params:
                params["scope"] = profile.scope
            return self.request_token(params)
        if profile.grant_type is GrantType.TOKEN_EXCHANGE:
            return self.token_exchange()
        return self.client_credentials()

    def token_exchange(self) -> Token:
        """RFC 8693 token exchange of the subject token in the profile's ``subject_token_file``."""
        return self.request_token(token_exchange.token_exchange_params(self.profile))

    def authorization_request(
        self, *, redirect_uri: str | None = None, state: str | None = None
    ) -> grants.AuthorizationRequest:
        """
        The authorization request to send a person to (PKCE, state, OIDC nonce, resource indicators).

        Pushed first (RFC 9126) when the server's metadata requires it or the profile's ``par`` is true: the
        browser then gets only ``client_id`` and the ``request_uri`` the server returned.
        """
        profile = self.profile
        endpoints = self.endpoints
        if not endpoints.authorize_url:
            raise ProfileError(
                profile.conn_id,
                "authorize_url",
                "no authorization URL: set 'authorize_url', or 'issuer_url' for discovery",
            )
        request = grants.build_authorization_request(
            profile, endpoints.authorize_url, redirect_uri=redirect_uri, state=state
        )
        push = profile.par or endpoints.require_par
        if not push:
            return request
        if not endpoints.par_url:
            raise ProfileError(
                profile.conn_id,
                "par",
                "pushed authorization requests need the server's pushed_authorization_request_endpoint; give "
                "'issuer_url' so it is read from the server's metadata",
            )
        query = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
        params = dict(query)
        resources = [v for k, v in query if k == "resource" and v]
        pushed: dict[str, str | Sequence[str]] = {**params, **({"resource": resources} if resources else {})}
        answer = self.post_form(endpoints.par_url, pushed)
        request_uri = answer.get("request_uri")
        if not isinstance(request_uri, str) or not request_uri:
            raise TokenResponseError(
                f"The pushed authorization request endpoint {endpoints.par_url} answered without a request_uri"
            )
        log.info("Connection %r: pushed the authorization request (RFC 9126)", profile.conn_id)
        to_browser = authorization_code.pushed_authorization_request
        return to_browser(request, endpoints.authorize_url, profile.client_id, request_uri)

    def exchange_code(
        self, code: str, *, code_verifier: str | None, redirect_uri: str | None, nonce: str | None = None
    ) -> Token:
        """
        Finish the authorization-code grant (RFC 6749 4.1.3, with the PKCE verifier of RFC 7636). For an OpenID
        Connect request (``openid`` scope, or the ``nonce`` the request sent) the answer's ID Token must carry
        that nonce and name this client (:mod:`~airflow_oauth_connector.id_token`), or nothing is kept.
        """
        params = grants.authorization_code_params(code, redirect_uri or self.profile.redirect_uri, code_verifier)
        return self.request_token(params, id_token=expectation(self.profile, nonce, self.endpoints.issuer))

    def refresh(self, refresh_token: str, *, previous: Token | None = None) -> Token:
        """
        Use a refresh token (RFC 6749 6) at the refresh URL (default: the token URL). A response without a
        new refresh token keeps the old one (and the expiry ``previous`` states for it); captured values the
        response does not repeat are kept.
        """
        params = grants.refresh_token_params(refresh_token)
        try:
            return self._refresh_request(params, refresh_token, previous)
        except TokenResponseError as exc:
            if exc.http_status is not None and _refused_without_reason(exc.http_status):
                raise GrantRefusedError(exc.http_status, conn_id=exc.conn_id, url=exc.url) from None
            raise

    def _refresh_request(self, params: Mapping[str, str], refresh_token: str, previous: Token | None) -> Token:
        return self.request_token(
            params,
            previous_refresh_token=refresh_token,
            previous_captured=None if previous is None else previous.captured,
            previous_refresh_expires_at=None if previous is None else previous.refresh_expires_at,
            endpoint=self.profile.refresh_url,
            dpop_jwk=None if previous is None else previous.dpop_jwk,
        )

    def request_token(
        self,
        grant_params: Mapping[str, str | Sequence[str]],
        *,
        previous_refresh_token: str | None = None,
        previous_captured: Mapping[str, str] | None = None,
        previous_refresh_expires_at: float | None = None,
        endpoint: str | None = None,
        dpop_jwk: Mapping[str, Any] | None = None,
        id_token: IdTokenExpectation | None = None,
    ) -> Token:
        """
        Send a grant to the token endpoint with the profile's token parameters (the shared ones and those of
        the request's kind, told by its ``grant_type``: exchange, refresh or grant); parse the answer (and
        check its ID Token against ``id_token``, when given).

        With ``dpop`` the token is requested bound to a key pair (the previous token's on a refresh, else a
        new one), which is kept with the token.
        """
        grant = grant_params.get("grant_type", "?")
        if self.profile.resource and "resource" not in grant_params:
            grant_params = {**grant_params, "resource": list(self.profile.resource)}  # RFC 8707 2.2
        key = self._dpop_key(dpop_jwk) if self.profile.dpop else None
        url = endpoint or self.endpoints.token_url
        try:
            kind = TokenRequestKind.of(grant)
            payload = self.post_form(url, grant_params, dpop_key=key, kind=kind)
            now = self._clock()
            if id_token is not None:
                check_id_token(payload, id_token, now=now)
            token = Token.from_payload(
                payload,
                now=now,
                default_lifetime=self.profile.default_expires_in,
                previous_refresh_token=previous_refresh_token,
                mapping=self.profile.response,
                previous_captured=previous_captured,
                previous_refresh_expires_at=previous_refresh_expires_at,
            )
        except (TokenEndpointError, TokenResponseError) as exc:
            raise exc.located(self.profile.conn_id, url=drop_query(url)) from None
        except EndpointUnreachableError as exc:
            raise exc.located(self.profile.conn_id, field=self._url_field(url)) from None
        if key is not None:
            if not token.is_dpop:
                raise DPoPError(
                    f"Connection {self.profile.conn_id!r}, field 'dpop': the token endpoint answered with a "
                    f"{token.token_type} token, not a DPoP-bound one; it may not support DPoP (RFC 9449). "
                    f"Turn 'dpop' off for this connection, or enable DPoP for the client at the provider"
                )
            token = token.with_dpop_key(key.to_jwk())
        register_secret(token.access_token)
        register_secret(token.refresh_token)
        lifetime = token.expires_in(token.issued_at)
        log.info(
            "Connection %r: obtained an access token (grant %s, expires in %s)",
            self.profile.conn_id,
            grant,
            "an unknown time" if lifetime is None else f"{lifetime:.0f} s",
        )
        return token

    def _url_field(self, url: str) -> str:
        """The form field a token request's URL comes from, as its label and name."""
        profile = self.profile
        if profile.refresh_url and url == profile.refresh_url:
            return "Refresh URL field (refresh_url)"
        if profile.access_url and url == profile.access_url:
            return "Access token URL field (access_url)"
        if profile.issuer_url:
            return "Issuer URL field (issuer_url; the token URL comes from its metadata)"
        return "Access token URL field (access_url)"

    def _dpop_key(self, jwk: Mapping[str, Any] | None) -> DPoPKey:
        if jwk:
            try:
                return DPoPKey.from_jwk(jwk)
            except DPoPError:
                log.warning("Connection %r: the stored DPoP key is unreadable; using a new one", self.profile.conn_id)
        return DPoPKey.generate()

    def post_form(
        self,
        endpoint: str,
        params: Mapping[str, str | Sequence[str]],
        *,
        dpop_key: DPoPKey | None = None,
        kind: TokenRequestKind | None = None,
    ) -> dict[str, Any]:
        """
        Send ``params`` to an endpoint of the authorization server (token, device authorization) the way
        every token request goes: the profile's token parameters merged in (with those scoped to ``kind``,
        a token request's kind; ``None``: the shared ones only), client authentication, the request shape
        (form or JSON body, or GET with a query), the retry policy, a bounded body, OAuth errors raised as
        typed exceptions. Returns the parsed payload.
        """
        profile = self.profile
        extra = profile.access_params.for_request(kind)
        query_url = _with_query(endpoint, extra.query)
        form = urlencode({**extra.body, **params}, doseq=True)
        method = profile.access_method.value
        # The aud of JWT client assertions is the token endpoint, whichever endpoint the request goes to.
        audience = self.endpoints.token_url if profile.client_auth in JWT_CLIENT_AUTH else endpoint

        def attempt() -> requests.Response:
            # Client authentication per attempt: a JWT assertion is signed afresh (new jti) for each one.
            headers = {"Accept": "application/json", "Content-Type": _FORM, **extra.headers}
            if dpop_key is not None:  # a fresh proof per attempt, with the server's latest nonce (RFC 9449 5, 8)
                headers["DPoP"] = dpop_key.proof(method, endpoint, nonce=self.dpop_nonces.get(endpoint))
            url, headers, encoded = apply_profile_client_auth(
                profile, query_url, headers, form, token_endpoint=audience
            )
            body: str | None = encoded
            if profile.access_method is TokenMethod.GET:
                url, body = _with_query(url, dict(parse_qsl(encoded, keep_blank_values=True))), None
                headers.pop("Content-Type", None)
            elif profile.access_body is TokenBody.JSON:
                body = json.dumps(dict(parse_qsl(encoded, keep_blank_values=True)))
                headers["Content-Type"] = "application/json"
            return self.session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=profile.timeout,
                verify=profile.verify,
                cert=profile.cert,
                allow_redirects=False,
                stream=True,
            )

        for challenge in (False, True):
            response = send_with_retry(
                attempt,
                self.retry,
                method=method,
                url=endpoint,
                replayable=True,
                sleep=self._sleep,
            )
            content = read_bounded(response, MAX_TOKEN_RESPONSE_BYTES)
            if dpop_key is not None:
                self.dpop_nonces.remember(endpoint, response.headers)
            try:
                return parse_token_body(
                    content, response.headers.get("Content-Type", ""), response.status_code, profile.response.error_map
                )
            except TokenEndpointError as exc:
                # RFC 9449 8: the server wants a nonce. Once, with a new proof and a new client assertion
                # (attempt() makes both); no token was issued by the refused request, so none is wasted.
                if dpop_key is None or not token_nonce_challenge(response.status_code, exc.error, response.headers):
                    raise
                if challenge:
                    raise nonce_loop_error("token endpoint") from None
                log.info(
                    "Connection %r: the token endpoint asked for a DPoP nonce; retrying once with it", profile.conn_id
                )
        raise AssertionError("unreachable")  # pragma: no cover


def _refused_without_reason(status: int) -> bool:
    """4xx answers to a refresh that mean "no" even without an OAuth error body (not: wrong URL, throttling)."""
    return 400 <= status < 500 and status not in (404, 405, 408, 413, 414, 429)


def read_bounded(response: requests.Response, limit: int) -> bytes:
    """The (streamed) body, refusing to read more than ``limit`` bytes of it."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise TokenResponseError(
                    f"Token endpoint answered HTTP {response.status_code} with a body over {limit // 1024} KiB; "
                    f"not a token response (check the access-token URL)",
                    status_code=response.status_code,
                )
            chunks.append(chunk)
    finally:
        response.close()
    return b"".join(chunks)


def _with_query(url: str, query: Mapping[str, str]) -> str:
    if not query:
        return url
    parts = urlsplit(url)
    extra = urlencode(dict(query))
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))
