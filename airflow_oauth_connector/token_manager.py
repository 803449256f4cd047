"""Token lifecycle: reuse a cached token, refresh it before expiry or after a 401, one fetch at a time."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from airflow_oauth_connector.exceptions import AuthorizationRequiredError, InvalidGrantError
from airflow_oauth_connector.profile import GrantType, OAuthProfile
from airflow_oauth_connector.store.base import TokenStore
from airflow_oauth_connector.token import Token
from airflow_oauth_connector.token_client import TokenClient

log = logging.getLogger(__name__)


class TokenManager:
    """
    Hands out a valid access token for one profile.

    Tokens are read from and saved to ``store`` under the profile's cache key; every fetch happens under
    the store's lock for that key, after a second look at the store, so concurrent callers that need a
    token at once cause one token request and share its result.
    """

    def __init__(
        self,
        profile: OAuthProfile,
        client: TokenClient,
        store: TokenStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.profile = profile
        self.client = client
        self.store = store
        self.key = profile.cache_key
        self._clock = clock

    def __repr__(self) -> str:
        return f"TokenManager(conn_id={self.profile.conn_id!r}, store={self.store!r})"

    def current(self) -> Token | None:
        """The stored token, whether or not it is still valid."""
        return self.store.load(self.key)

    def _usable(self, token: Token | None) -> bool:
        return token is not None and not token.needs_refresh(self._clock(), self.profile.expiry_leeway)

    def get_token(self) -> Token:
        """A token that is valid for at least the profile's leeway, fetched or refreshed if needed."""
        token = self.store.load(self.key)
        if token is not None and self._usable(token):
            return token
        with self.store.lock(self.key):
            token = self.store.load(self.key)
            if token is not None and self._usable(token):
                return token
            return self._renew(token)

    def refresh_after_rejection(self, rejected: Token) -> Token:
        """
        The API rejected ``rejected`` (HTTP 401): renew it, unless another caller already did.
        """
        with self.store.lock(self.key):
            token = self.store.load(self.key)
            if token is not None and token.access_token != rejected.access_token and self._usable(token):
                return token
            return self._renew(token or rejected)

    def renew(self) -> Token:
        """Obtain a new token now (refreshing from the newest refresh token for authorization code)."""
        with self.store.lock(self.key):
            return self._renew(self.store.load(self.key))

    def forget(self) -> None:
        """Drop the stored token (the connection's own refresh token, if any, is kept)."""
        with self.store.lock(self.key):
            self.store.delete(self.key)

    def _renew(self, previous: Token | None) -> Token:
        token = self._obtain(previous)
        self.store.save(self.key, token)
        return token

    def _obtain(self, previous: Token | None) -> Token:
        if self.profile.grant_type is GrantType.CLIENT_CREDENTIALS:
            return self.client.client_credentials()
        candidates = _refresh_candidates(previous, self.profile.refresh_token)
        if not candidates:
            raise AuthorizationRequiredError(self.profile.conn_id)
        for attempt, refresh_token in enumerate(candidates, start=1):
            try:
                return self.client.refresh(refresh_token)
            except InvalidGrantError:
                if attempt == len(candidates):
                    raise
                log.warning(
                    "Connection %r: the cached refresh token was rejected; trying the one stored with the connection",
                    self.profile.conn_id,
                )
        raise AssertionError("unreachable")  # pragma: no cover


def _refresh_candidates(previous: Token | None, configured: str | None) -> list[str]:
    """Refresh tokens to try, newest first: the cached token's, then the connection's own."""
    found = [previous.refresh_token if previous else None, configured]
    return list(dict.fromkeys(t for t in found if t))
