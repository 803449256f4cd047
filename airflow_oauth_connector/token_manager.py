"""Token lifecycle: reuse a cached token, refresh it before expiry or after a 401, one fetch at a time."""

from __future__ import annotations

import time
from collections.abc import Callable

from airflow_oauth_connector.exceptions import AuthorizationRequiredError, InvalidGrantError
from airflow_oauth_connector.profile import GrantType, OAuthProfile
from airflow_oauth_connector.status import AuthState, Failure, TokenStatus, Where
from airflow_oauth_connector.store.base import TokenStore
from airflow_oauth_connector.store.factory import commit_token
from airflow_oauth_connector.token import Token, refresh_origin, superseded
from airflow_oauth_connector.token_client import TokenClient


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
        self._origin = refresh_origin(profile.refresh_token)
        # Only an authorization-code connection's refresh token supersedes a stored chain.
        self._grant_origin = self._origin if profile.grant_type is GrantType.AUTHORIZATION_CODE else None
        self._cached: Token | None = None  # last good token: no store read per request while it is valid

    def __repr__(self) -> str:
        return f"TokenManager(conn_id={self.profile.conn_id!r}, store={self.store!r})"

    def current(self) -> Token | None:
        """The stored token (or the one this process holds, if the store lost it), valid or not."""
        return self.store.load(self.key) or self._cached

    def _usable(self, token: Token | None) -> bool:
        if token is None or token.needs_refresh(self._clock(), self.profile.expiry_leeway):
            return False
        return not self._superseded(token)

    def _superseded(self, token: Token) -> bool:
        """The connection holds a newer grant (re-authorized, or a pasted refresh token): newest wins."""
        return superseded(token, self._grant_origin)

    def get_token(self) -> Token:
        """A token that is valid for at least the profile's leeway, fetched or refreshed if needed."""
        cached = self._cached
        if cached is not None and self._usable(cached):
            return cached
        token = self.store.load(self.key)
        if token is not None and self._usable(token):
            self._cached = token
            return token
        with self.store.lock(self.key):
            token = self.store.load(self.key)
            if token is not None and self._usable(token):
                self._cached = token
                return token
            return self._renew(token)

    def refresh_after_rejection(self, rejected: Token) -> Token:
        """
        The API rejected ``rejected`` (HTTP 401): renew it, unless another caller already did.
        """
        with self.store.lock(self.key):
            token = self.store.load(self.key)
            if token is not None and token.access_token != rejected.access_token and self._usable(token):
                self._cached = token
                return token
            return self._renew(token or rejected)

    def renew(self) -> Token:
        """Obtain a new token now (refreshing from the newest refresh token for authorization code)."""
        with self.store.lock(self.key):
            return self._renew(self.store.load(self.key))

    def forget(self) -> None:
        """Drop the stored token (the connection's own refresh token, if any, is kept)."""
        with self.store.lock(self.key):
            self._cached = None
            self.store.delete(self.key)

    def _renew(self, previous: Token | None) -> Token:
        try:
            token = self._obtain(previous)
        except InvalidGrantError as exc:
            if self.profile.grant_type is GrantType.AUTHORIZATION_CODE:
                failure = Failure.of(exc, at=self._clock(), where=Where.WORKER.value, secrets=self._secrets(previous))
                status = TokenStatus(state=AuthState.NEEDS_REAUTHORIZATION, failure=failure)
                self.store.save_status(self.key, status)
            raise
        except AuthorizationRequiredError:
            self.store.save_status(self.key, TokenStatus(state=AuthState.NOT_AUTHORIZED))
            raise
        token = commit_token(self.store, self.key, token)  # a store without a lock may adopt a racing winner
        self.store.clear_status(self.key)
        self._cached = token
        return token

    def _secrets(self, previous: Token | None) -> tuple[str | None, ...]:
        held = () if previous is None else (previous.access_token, previous.refresh_token)
        return (self.profile.client_secret, self.profile.refresh_token, *held)

    def _obtain(self, previous: Token | None) -> Token:
        if not self.profile.grant_type.needs_person:
            return self.client.obtain_without_person()
        refresh_token, origin = self._refresh_source(previous)
        if not refresh_token:
            raise AuthorizationRequiredError(self.profile.conn_id)
        chain = previous if previous is not None and previous.refresh_token == refresh_token else None
        # Values captured at authorization live with the stored chain, else in the connection's extra.
        captured = {**self.profile.captured, **(chain.captured if chain is not None else {})}
        base = Token(access_token="-", captured=captured) if captured else None
        return self.client.refresh(refresh_token, previous=base).with_origin(origin)

    def _refresh_source(self, previous: Token | None) -> tuple[str | None, str | None]:
        """
        The refresh token to use, and the origin of its chain.

        The stored chain's newest refresh token while it descends from the connection's refresh token; the
        connection's own when that is newer (a different grant) or nothing is stored. With rotation, an
        older refresh token of the chain is never replayed (reuse detection would revoke the grant).
        """
        if previous is not None and previous.refresh_token and not self._superseded(previous):
            return previous.refresh_token, previous.origin or self._origin
        return self.profile.refresh_token, self._origin
