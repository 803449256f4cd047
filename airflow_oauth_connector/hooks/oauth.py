"""OAuthConnectorHook: an authorized requests.Session for one OAuth 2.0 connection."""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import requests
from airflow.sdk import BaseHook

from airflow_oauth_connector.auth import OAuthAuth, OAuthSession
from airflow_oauth_connector.exceptions import (
    ApiResponseError,
    AuthorizationRequiredError,
    ForeignOriginError,
    OAuthConnectorError,
)
from airflow_oauth_connector.profile import (
    CONN_TYPE,
    OAuthProfile,
    check_resolved_base_url,
    origin_of,
    placeholders_in,
)
from airflow_oauth_connector.redaction import drop_query, redact, register_secret
from airflow_oauth_connector.retry import RetryPolicy, send_with_retry
from airflow_oauth_connector.store import TokenStore
from airflow_oauth_connector.store.factory import store_for
from airflow_oauth_connector.token_client import TokenClient
from airflow_oauth_connector.token_manager import TokenManager

_EXCERPT = 200

RetryOverride = RetryPolicy | Mapping[str, Any] | None


class OAuthConnectorHook(BaseHook):
    """
    Calls an OAuth 2.0-protected REST API: tokens are fetched, cached, refreshed and attached for you.

    :param oauth_conn_id: an ``oauth_connector`` connection.
    :param timeout: seconds per HTTP request (overrides the connection's ``timeout``).
    :param retry: a :class:`RetryPolicy`, or a mapping of its fields, laid over the connection's policy.
    :param token_store: where tokens are kept; default: the connection's ``store_backend`` field, else the
        provider-wide ``[oauth_connector] token_store`` option, else the local file store.
    """

    conn_name_attr = "oauth_conn_id"
    default_conn_name = "oauth_connector_default"
    conn_type = CONN_TYPE
    hook_name = "OAuth 2.0 API"

    def __init__(
        self,
        oauth_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry: RetryOverride = None,
        token_store: TokenStore | None = None,
    ) -> None:
        super().__init__()
        self.oauth_conn_id = oauth_conn_id
        self._timeout = timeout
        self._retry_override = retry
        self._token_store = token_store

    def __repr__(self) -> str:
        return f"{type(self).__name__}(oauth_conn_id={self.oauth_conn_id!r})"

    @cached_property
    def profile(self) -> OAuthProfile:
        """The connection, parsed and validated (read once per hook)."""
        return OAuthProfile.from_connection(self.get_connection(self.oauth_conn_id))

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        return _merge_policy(self.profile.retry, self._retry_override)

    @cached_property
    def token_client(self) -> TokenClient:
        return TokenClient(self.profile, retry=self.retry_policy)

    @cached_property
    def tokens(self) -> TokenManager:
        return TokenManager(self.profile, self.token_client, store_for(self.profile, self._token_store))

    @cached_property
    def base_url(self) -> str:
        """
        The API base URL. ``{name}`` placeholders (Salesforce's ``{instance_url}``, QuickBooks' ``{realmId}``)
        are filled from the values captured with the grant, which costs a token lookup on first use.
        """
        profile = self.profile
        if not placeholders_in(profile.base_url):
            return profile.base_url
        return check_resolved_base_url(profile, profile.resolved_base_url(self.captured_values()))

    def captured_values(self) -> dict[str, str]:
        """Values captured at authorization and token time (``instance_url``, ``realmId``, ``tenant_id``, ...)."""
        return {**self.profile.captured, **self.tokens.get_token().captured}

    @cached_property
    def session(self) -> OAuthSession:
        profile = self.profile
        base = self.base_url
        auth = OAuthAuth(
            self.tokens,
            origin_of(base),
            header_name=profile.header_name,
            header_prefix=profile.header_prefix,
            query_param=profile.query_param,
        )
        session = OAuthSession(base, auth)
        session.verify = profile.verify
        session.cert = profile.cert
        if profile.api_headers:  # fixed headers (Notion-Version; Xero-Tenant-Id from a captured value)
            captured = self.captured_values() if placeholders_in(*profile.api_headers.values()) else {}
            session.headers.update(profile.resolved_headers(captured))
        return session

    def get_conn(self) -> OAuthSession:
        """A ``requests.Session`` that authorizes every request to the API's origin."""
        return self.session

    @property
    def timeout(self) -> float:
        return self._timeout if self._timeout is not None else self.profile.timeout

    def url_for(self, endpoint: str | None) -> str:
        """The base URL joined with ``endpoint``; an absolute URL must stay on the API's origin."""
        base = self.base_url
        if not endpoint:
            return base
        if urlsplit(endpoint).scheme:
            if origin_of(endpoint) != origin_of(base):
                raise ForeignOriginError(origin_of(endpoint), origin_of(base))
            return endpoint
        return f"{base}/{endpoint.lstrip('/')}"

    def run(
        self,
        endpoint: str | None = None,
        method: str = "GET",
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        retry: RetryOverride = None,
        replayable: bool | None = None,
        check_response: bool = True,
        **request_kwargs: Any,
    ) -> requests.Response:
        """
        Call ``endpoint`` (relative to the base URL) with the token attached; retried by the policy.

        A 401 renews the token and replays once. With ``check_response`` a final non-2xx status raises
        :class:`ApiResponseError`. ``replayable`` overrides whether the request may be re-sent after a
        failure that it may have survived on the server (default: only idempotent methods).
        """
        url = self.url_for(endpoint)
        verb = method.upper()
        policy = _merge_policy(self.retry_policy, retry)
        session = self.session
        response = send_with_retry(
            lambda: session.request(
                verb,
                url,
                params=params,
                json=json,
                data=data,
                headers=dict(headers or {}),
                timeout=self.timeout if timeout is None else timeout,
                **request_kwargs,
            ),
            policy,
            method=verb,
            url=url,
            replayable=replayable,
        )
        if check_response:
            self.check_response(response)
        return response

    def check_response(self, response: requests.Response) -> None:
        """Raise :class:`ApiResponseError` (with a short body excerpt, secrets removed) for a non-2xx."""
        if response.ok:
            return
        raise ApiResponseError(
            response.request.method or "?",
            drop_query(response.url or ""),
            response.status_code,
            response.reason or "",
            self.excerpt(response),
        )

    def excerpt(self, response: requests.Response) -> str:
        """A short, whitespace-folded body excerpt with this connection's secrets removed."""
        try:
            text = response.content[: _EXCERPT * 4].decode("utf-8", errors="replace")
        except requests.RequestException:
            return ""
        token = self.tokens.current()
        secrets = [self.profile.client_secret, self.profile.refresh_token]
        if token is not None:
            secrets += [token.access_token, token.refresh_token]
        return redact(text, secrets=secrets, limit=_EXCERPT, queries=False)

    def get_access_token(self) -> str:
        """A valid access token (registered with Airflow's secrets masker), for clients of your own."""
        token = self.tokens.get_token().access_token
        register_secret(token)
        return token

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a fresh token and say what worked, without any secret in the message."""
        try:
            profile = self.profile
            started = time.monotonic()
            token = self.tokens.renew()
        except AuthorizationRequiredError as exc:
            return False, str(exc)
        except OAuthConnectorError as exc:
            return False, f"Could not obtain a token: {exc}"
        except Exception as exc:
            return False, f"Could not obtain a token: {type(exc).__name__}"
        elapsed = time.monotonic() - started
        lifetime = token.expires_in(time.time())
        expiry = "no stated expiry" if lifetime is None else f"expires in {lifetime:.0f} s"
        scope = f", scope '{token.scope}'" if token.scope else ""
        return True, (
            f"Token endpoint {drop_query(self.token_client.endpoints.token_url)} issued a "
            f"{token.token_type} token for client '{profile.client_id}' via {profile.grant_type.value} "
            f"in {elapsed:.2f} s ({expiry}{scope})"
        )


def _merge_policy(base: RetryPolicy, override: RetryOverride) -> RetryPolicy:
    if override is None:
        return base
    if isinstance(override, RetryPolicy):
        return override
    return base.replace(**dict(override))
