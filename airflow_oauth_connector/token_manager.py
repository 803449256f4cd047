"""Token lifecycle: reuse a cached token, refresh it before expiry or after a 401, one fetch at a time."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace

import tenacity

from airflow_oauth_connector import capture
from airflow_oauth_connector.exceptions import (
    REFRESH_TOKEN_EXPIRED,
    AuthorizationRequiredError,
    EndpointUnreachableError,
    InvalidGrantError,
    ReauthorizationRequiredError,
    RefreshTokenExpiredError,
    TokenStoreError,
)
from airflow_oauth_connector.profile import GrantType, OAuthProfile
from airflow_oauth_connector.status import (
    AuthState,
    Failure,
    RefreshInFlight,
    StatusChange,
    TokenStatus,
    as_token_status,
    current_where,
    format_time,
    update_status,
)
from airflow_oauth_connector.store.base import TokenStore
from airflow_oauth_connector.store.factory import commit_token
from airflow_oauth_connector.token import Token, known_secrets, refresh_origin, superseded
from airflow_oauth_connector.token_client import TokenClient

log = logging.getLogger(__name__)

#: How long a refreshed token's save is retried when the store fails right after the refresh (it holds the
#: only copy of a rotated refresh token).
SAVE_RETRY_SECONDS = 20.0


class TokenManager:
    """
    Hands out a valid access token for one profile.

    Tokens are read from and saved to ``store`` under the profile's cache key; every fetch happens under
    the store's lock for that key, after a second look at the store, so concurrent callers that need a
    token at once cause one token request and share its result.

    Refreshes of a grant a person authorized (its refresh token may rotate) are guarded in the store's
    status record:

    * **Refresh in flight.** Before the refresh is sent, a :class:`~airflow_oauth_connector.status.
      RefreshInFlight` record is saved (if it cannot be saved, the refresh is not sent: its rotated refresh
      token could not be saved either). It is cleared once the new token is saved. A holder of the lock that
      finds the record left behind (its writer died mid-refresh, e.g. SIGKILL) knows the server may already
      have rotated the refresh token it holds, and makes **one** attempt with it (servers with a grace
      window accept it); a second lost attempt is not followed by a third.
    * **Fail fast.** A rejected refresh (``invalid_grant``) marks the grant "needs re-authorization"; every
      later task fails at once with :class:`~airflow_oauth_connector.exceptions.ReauthorizationRequiredError`
      instead of sending the dead refresh token again. A newer grant (re-authorization, or a new refresh
      token in the connection) is not affected.
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
        self._held: Token | None = None  # last good token: no store read per request while it is valid
        self._serve_until = -math.inf  # clock time from which the held token is no longer usable
        self._announced = False  # "using the stored token" was logged (or this manager obtained one)

    def __repr__(self) -> str:
        return f"TokenManager(conn_id={self.profile.conn_id!r}, store={self.store!r})"

    def current(self) -> Token | None:
        """The stored token (or the one this process holds, if the store lost it), valid or not."""
        return self.store.load(self.key) or self._held

    def cached(self) -> Token | None:
        """The token this manager holds in memory while it is still usable (no I/O, no check but the clock)."""
        return self._held if self._clock() < self._serve_until else None

    def _hold(self, token: Token | None) -> None:
        """Hold ``token`` in memory, with the clock time from which it is no longer served from there."""
        self._held = token
        self._serve_until = self._usable_until(token)

    def adopt(self, token: Token) -> bool:
        """
        Hold ``token`` in memory if it is usable for this profile, as if read from the store (a token another
        manager of this process just obtained for the same key and store); ``False`` if it is not.
        """
        if not self._usable(token):
            return False
        self._hold(token)
        return True

    def _usable(self, token: Token | None) -> bool:
        return self._clock() < self._usable_until(token)

    def _usable_until(self, token: Token | None) -> float:
        """The clock time from which ``token`` needs a refresh (at once: none, or superseded by a newer grant)."""
        if token is None or self._superseded(token):
            return -math.inf
        return token.refresh_from(self.profile.expiry_leeway)

    def _superseded(self, token: Token) -> bool:
        """The connection holds a newer grant (re-authorized, or a pasted refresh token): newest wins."""
        return superseded(token, self._grant_origin)

    def get_token(self) -> Token:
        """A token that is valid for at least the profile's leeway, fetched or refreshed if needed."""
        held = self.cached()  # the hot path: no store read while the held token is usable
        if held is not None:
            return held
        token = self.store.load(self.key)
        if token is not None and self._usable(token):
            return self._serve_stored(token)
        if self.profile.grant_type.needs_person:  # a dead grant: fail now rather than queue for the lock
            self._fail_fast(self._status(), self._chain(token), token)
        with self.store.lock(self.key):
            token = self.store.load(self.key)
            if token is not None and self._usable(token):
                return self._serve_stored(token)
            return self._renew(token)

    def _serve_stored(self, token: Token) -> Token:
        """Hold a token read from the store; say so once per manager (its expiry, never the token)."""
        self._hold(token)
        if not self._announced:
            self._announced = True
            expiry = "no stated expiry" if token.expires_at is None else f"expires at {format_time(token.expires_at)}"
            log.info("Connection %r: using the stored token, %s", self.profile.conn_id, expiry)
        return token

    def refresh_after_rejection(self, rejected: Token) -> Token:
        """
        The API rejected ``rejected`` (HTTP 401, or an answer the profile's ``renew_on`` declares): renew it, unless
        another caller already did.
        """
        with self.store.lock(self.key):
            token = self.store.load(self.key)
            if token is not None and token.access_token != rejected.access_token and self._usable(token):
                self._hold(token)
                return token
            return self._renew(token or rejected)

    def renew(self) -> Token:
        """Obtain a new token now (refreshing from the newest refresh token for authorization code)."""
        with self.store.lock(self.key):
            return self._renew(self.store.load(self.key))

    def forget(self) -> None:
        """Drop the stored token (the connection's own refresh token, if any, is kept)."""
        with self.store.lock(self.key):
            self._hold(None)
            self.store.delete(self.key)

    def _renew(self, previous: Token | None) -> Token:
        """
        Obtain a token (the caller holds the lock); see the class docstring for refresh guards. The outcome is
        recorded in the status record: the failure (kind, redacted message, time, where) or the success. A
        machine grant's record is read only to record a failure (a success replaces it whole).
        """
        guarded = self._guard_refresh(previous) if self.profile.grant_type.needs_person else None
        try:
            token = self._obtain(previous)
        except Exception as exc:  # recorded, then raised as it is
            change = self._failed(exc, previous)
            self._record(change if guarded is None else change(guarded))
            raise
        token = self._commit(token)
        self._record((guarded or TokenStatus()).succeeded(self._clock()))
        self._hold(token)
        self._announced = True  # the token client logged that it obtained this one
        return token

    def _failed(self, error: Exception, previous: Token | None) -> Callable[[TokenStatus], TokenStatus]:
        """How a failed token request changes the status record."""
        if isinstance(error, AuthorizationRequiredError):
            return lambda status: replace(status, state=AuthState.NOT_AUTHORIZED, in_flight=None)
        failure = self._failure(error, previous)
        if isinstance(error, InvalidGrantError) and self.profile.grant_type is GrantType.AUTHORIZATION_CODE:
            chain = self._chain(previous)
            return lambda status: replace(status, chain=chain).failed(failure, AuthState.NEEDS_REAUTHORIZATION)
        # A refresh that may have been processed stays in flight (its rotated token may be lost); an answered
        # error (nothing was rotated), or a request that was not made, ends it.
        unreachable = isinstance(error, EndpointUnreachableError) and not error.never_sent
        kept = unreachable and self.profile.grant_type.needs_person
        return lambda status: status.failed(failure, keep_in_flight=kept)

    def _failure(self, error: BaseException, previous: Token | None) -> Failure:
        secrets = tuple(known_secrets(self.profile, previous))
        return Failure.of(error, at=self._clock(), where=current_where(), secrets=secrets)

    def _record(self, change: StatusChange) -> None:
        """Save the outcome of a token request; a store that fails here is logged and ignored (never a secret)."""
        update_status(self.store, self.key, change, conn_id=self.profile.conn_id, what="the token request's outcome")

    def _status(self) -> TokenStatus:
        return as_token_status(self.store.load_status(self.key))

    def _chain(self, previous: Token | None) -> str | None:
        """The origin of the refresh-token chain a refresh from ``previous`` continues."""
        return self._refresh_source(previous)[1]

    def _fail_fast(self, status: TokenStatus, chain: str | None, previous: Token | None = None) -> None:
        """Raise if this grant is known dead (a newer grant, or a record without a chain, is not)."""
        if status.needs_reauthorization and status.chain is not None and status.chain == chain:
            failure = status.failure
            if failure is not None and failure.kind == REFRESH_TOKEN_EXPIRED:
                expired_at = None if previous is None else previous.refresh_expires_at
                raise RefreshTokenExpiredError(self.profile.conn_id, expired_at=expired_at)
            raise ReauthorizationRequiredError(
                self.profile.conn_id,
                kind=failure.kind if failure else "invalid_grant",
                at=failure.at if failure else None,
                where=failure.where if failure else None,
            )

    def _refuse_expired(self, previous: Token | None, status: TokenStatus, chain: str | None) -> None:
        """
        Do not send a refresh token whose stated lifetime has passed (the server would answer ``invalid_grant``):
        record the grant as needing re-authorization and raise. Only the stored chain's refresh token has a known
        lifetime; the connection's own (a newer grant, or nothing stored) is sent.
        """
        if previous is None or self._superseded(previous) or not previous.refresh_expired(self._clock()):
            return
        error = RefreshTokenExpiredError(self.profile.conn_id, expired_at=previous.refresh_expires_at)
        failure = Failure(kind=REFRESH_TOKEN_EXPIRED, message=str(error), at=self._clock(), where=current_where())
        self._record(replace(status, chain=chain).failed(failure, AuthState.NEEDS_REAUTHORIZATION))
        log.warning("Connection %r: %s", self.profile.conn_id, error)
        raise error

    def _guard_refresh(self, previous: Token | None) -> TokenStatus:
        """
        Fail fast on a dead grant; note a lost refresh; record this refresh as in flight before it is sent
        (keeping the last failure and success). Returns the in-flight status saved.
        """
        status = self._status()
        chain = self._chain(previous)
        self._fail_fast(status, chain, previous)
        self._refuse_expired(previous, status, chain)
        attempt = 1
        lost = status.in_flight
        if lost is not None and lost.chain == chain:
            if lost.attempt >= 2:  # the one recovery attempt was lost too: do not send the token a third time
                failure = Failure(
                    kind="refresh_lost",
                    message=f"two refreshes did not finish (last by {lost.holder}); the grant may be rotated away",
                    at=self._clock(),
                    where=current_where(),
                )
                dead = replace(status, chain=chain).failed(failure, AuthState.NEEDS_REAUTHORIZATION)
                self.store.save_status(self.key, dead)
                self._fail_fast(dead, chain)
            attempt = 2
            log.warning(
                "Connection %r: a refresh started by %s did not finish (the process died?); the server may have "
                "rotated the refresh token already. One attempt with the refresh token held (a server with a "
                "grace window accepts it); if it is rejected the connection needs re-authorization.",
                self.profile.conn_id,
                lost.holder,
            )
        in_flight = status.refreshing(RefreshInFlight.now(self._clock(), chain, attempt=attempt))
        self.store.save_status(self.key, in_flight)  # must succeed: else the refresh is not sent
        return in_flight

    def _commit(self, token: Token) -> Token:
        """Save ``token``, retrying a failing store for a while: it may hold the only copy of a rotated token."""
        if not token.refresh_token:
            return commit_token(self.store, self.key, token)  # a store without a lock may adopt a racing winner
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TokenStoreError),
            stop=tenacity.stop_after_delay(SAVE_RETRY_SECONDS),
            wait=tenacity.wait_exponential(multiplier=0.5, max=5.0),
            before_sleep=lambda state: log.warning(
                "Connection %r: saving the refreshed token failed (%s); retrying: it holds the new refresh token",
                self.profile.conn_id,
                type(state.outcome.exception()).__name__ if state.outcome else "error",
            ),
            reraise=True,
        )
        try:
            return retrying(commit_token, self.store, self.key, token)
        except TokenStoreError as exc:
            raise TokenStoreError(
                f"Connection {self.profile.conn_id!r}: the refreshed token could not be saved for "
                f"{SAVE_RETRY_SECONDS:.0f} s ({exc}). Its new refresh token is lost unless the server has a "
                f"grace window: the refresh stays recorded as in flight, and the next task makes one attempt "
                f"with the previous refresh token"
            ) from None

    def _obtain(self, previous: Token | None) -> Token:
        if not self.profile.grant_type.needs_person:
            return capture.after_grant(self.profile, self.client.obtain_without_person(), self.client)
        refresh_token, origin = self._refresh_source(previous)
        if not refresh_token:
            raise AuthorizationRequiredError(self.profile.conn_id)
        chain = previous if previous is not None and previous.refresh_token == refresh_token else None
        # Values captured at authorization live with the stored chain, else in the connection's extra.
        captured = {**self.profile.captured, **(chain.captured if chain is not None else {})}
        # The refresh token's stated expiry carries over a refresh that keeps that same refresh token; the
        # chain's DPoP key signs the refresh (RFC 9449 5: a public client's refresh token is bound to it).
        expiry = chain.refresh_expires_at if chain is not None else None
        key = chain.dpop_jwk if chain is not None else None
        base = Token(access_token="-", captured=captured, refresh_expires_at=expiry, dpop_jwk=key)
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
