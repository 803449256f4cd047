"""The token endpoint: send grant requests (with token parameters and client auth), retry, parse."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from airflow_oauth_connector import grants
from airflow_oauth_connector.client_auth import apply_client_auth
from airflow_oauth_connector.discovery import Endpoints, resolve_endpoints
from airflow_oauth_connector.exceptions import TokenResponseError
from airflow_oauth_connector.grants import jwt_bearer
from airflow_oauth_connector.profile import GrantType, OAuthProfile, TokenBody, TokenMethod
from airflow_oauth_connector.redaction import register_secret
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
        return self.client_credentials()

    def exchange_code(self, code: str, *, code_verifier: str | None, redirect_uri: str | None) -> Token:
        """Finish the authorization-code grant (RFC 6749 4.1.3, with the PKCE verifier of RFC 7636)."""
        params = grants.authorization_code_params(code, redirect_uri or self.profile.redirect_uri, code_verifier)
        return self.request_token(params)

    def refresh(self, refresh_token: str, *, previous: Token | None = None) -> Token:
        """
        Use a refresh token (RFC 6749 6) at the refresh URL (default: the token URL). A response without a
        new refresh token keeps the old one; captured values the response does not repeat are kept.
        """
        params = grants.refresh_token_params(refresh_token)
        return self.request_token(
            params,
            previous_refresh_token=refresh_token,
            previous_captured=None if previous is None else previous.captured,
            endpoint=self.profile.refresh_url,
        )

    def request_token(
        self,
        grant_params: Mapping[str, str],
        *,
        previous_refresh_token: str | None = None,
        previous_captured: Mapping[str, str] | None = None,
        endpoint: str | None = None,
    ) -> Token:
        """Send a grant to the token endpoint with the profile's token parameters; parse the answer."""
        grant = grant_params.get("grant_type", "?")
        payload = self.post_form(endpoint or self.endpoints.token_url, grant_params)
        token = Token.from_payload(
            payload,
            now=self._clock(),
            default_lifetime=self.profile.default_expires_in,
            previous_refresh_token=previous_refresh_token,
            mapping=self.profile.response,
            previous_captured=previous_captured,
        )
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

    def post_form(self, endpoint: str, params: Mapping[str, str]) -> dict[str, Any]:
        """
        Send ``params`` to an endpoint of the authorization server (token, device authorization) the way
        every token request goes: the profile's token parameters merged in, client authentication, the
        request shape (form or JSON body, or GET with a query), the retry policy, a bounded body, OAuth
        errors raised as typed exceptions. Returns the parsed payload.
        """
        profile = self.profile
        extra = profile.access_params
        url = _with_query(endpoint, extra.query)
        headers = {"Accept": "application/json", "Content-Type": _FORM, **extra.headers}
        form = urlencode({**extra.body, **params})
        url, headers, form = apply_client_auth(
            profile.client_auth, profile.client_id, profile.client_secret, url, headers, form
        )
        method = profile.access_method.value
        body: str | None = form
        if profile.access_method is TokenMethod.GET:
            url, body = _with_query(url, dict(parse_qsl(form, keep_blank_values=True))), None
            headers.pop("Content-Type", None)
        elif profile.access_body is TokenBody.JSON:
            body = json.dumps(dict(parse_qsl(form, keep_blank_values=True)))
            headers["Content-Type"] = "application/json"
        response = send_with_retry(
            lambda: self.session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=profile.timeout,
                verify=profile.verify,
                cert=profile.cert,
                allow_redirects=False,
                stream=True,
            ),
            self.retry,
            method=method,
            url=endpoint,
            replayable=True,
            sleep=self._sleep,
        )
        content = read_bounded(response, MAX_TOKEN_RESPONSE_BYTES)
        return parse_token_body(
            content, response.headers.get("Content-Type", ""), response.status_code, profile.response.error_map
        )


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
