"""
The authorization status read model: whether a connection is authorized, and how its token looks (no secret).

:func:`profile_status` combines the profile (its refresh token), the token store's cached token (expiry,
scope, when it was obtained) and the store's typed :class:`~airflow_oauth_connector.status.TokenStatus`
(e.g. "needs re-authorization" after a rejected refresh token, written by workers) into a
:class:`ProfileStatus`, which the OAuth profiles page and the CLI show. Nothing here returns, logs or
formats a token, code or secret.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from airflow_oauth_connector.authorization.repository import load_profile
from airflow_oauth_connector.exceptions import OAuthConnectorError, ProfileError
from airflow_oauth_connector.profile import GrantType, OAuthProfile
from airflow_oauth_connector.redaction import redact
from airflow_oauth_connector.status import (
    MAX_MESSAGE,
    Failure,
    TokenStatus,
    as_token_status,
    format_duration,
    format_time,
    settings_key,
)
from airflow_oauth_connector.store.factory import settings_store, store_for
from airflow_oauth_connector.token import Token, known_secrets, refresh_origin, superseded

if TYPE_CHECKING:
    from airflow_oauth_connector.store.base import TokenStore

State = Literal["not_authorized", "authorized", "needs_reauthorization", "error", "ready", "not_tested", "failing"]

STATES: tuple[State, ...] = (
    "not_authorized",
    "authorized",
    "needs_reauthorization",
    "error",
    "ready",
    "not_tested",
    "failing",
)
"""
``not_authorized``: an authorization-code connection no person authorized yet. ``authorized``: it holds a
grant (its description says when its refresh token expires, if the token response stated it).
``needs_reauthorization``: its refresh token was rejected, or has expired (the lifetime the token response
stated has passed), or the access token expired with no refresh token. ``not_tested``: a machine grant
(client credentials, ...) with no token request recorded yet.
``ready``: a machine grant whose last token request succeeded (or whose token is cached). ``failing``: the
last token request failed (see ``last_failure``); the next success clears it. ``error``: the connection or
its token store cannot be read.
"""

_MAX_ERROR = 600

REFRESH_WARNING_SECONDS = 7 * 86400
"""A refresh token expiring within this time is described with "authorize again before then"."""


@dataclass(frozen=True)
class FailureInfo:
    """The last failure of a connection's token requests, as shown (redacted; no secret)."""

    kind: str
    """
    ``invalid_client``, ``invalid_grant``, ``unreachable``, ``timeout``, ``bad_response``, ``id_token_mismatch``, ...
    """
    message: str
    at: float | None
    """Epoch seconds (``None``: unknown, a record of an earlier version)."""
    where: str
    """``"test"``, ``"page"``, ``"cli"``, ``"dag_id/task_id/try N"`` or ``"worker"`` (outside a known context)."""

    def describe(self) -> str:
        """``invalid_client at 2026-12-02 01:23 UTC in test: <message>``."""
        text = self.kind
        if self.at:
            text += f" at {format_time(self.at)}"
        text += f" in {self.where}"
        if self.message:
            text += f": {self.message}"
        return text


@dataclass(frozen=True)
class ProfileStatus:
    """
    Whether a connection is authorized, how its token looks and how its last token request went. Holds no
    secret. :meth:`to_dict` is its JSON form for the OAuth profiles pages and ``status --json``.
    """

    conn_id: str
    grant_type: str
    state: State
    """One of :data:`STATES`."""
    expires_at: float | None = None
    """Epoch seconds at which the cached access token expires (``None``: no token cached, or unknown)."""
    scope: str | None = None
    """The cached token's granted scope, else the profile's requested scope."""
    last_refresh: float | None = None
    """Epoch seconds at which the cached token (else the last token recorded) was obtained."""
    last_error: str | None = None
    """The last failure (or why the status is ``error``) as one line; structured in ``last_failure``."""
    refresh_token_present: bool = False
    last_failure: FailureInfo | None = None
    """The last token request's failure, if the last outcome recorded is a failure."""
    last_success: float | None = None
    """Epoch seconds of the last successful token request (a Test, a task, an authorization)."""
    refresh_expires_at: float | None = None
    """Epoch seconds at which the refresh token in use expires, as its token response stated (``None``: not
    stated, or no refresh token)."""

    def refresh_expiry_text(self, now: float | None = None) -> str | None:
        """``refresh token expires in 12 days`` / ``refresh token expired at ... — authorize again`` (``None``:
        no stated expiry)."""
        if self.refresh_expires_at is None:
            return None
        return _refresh_expiry_text(self.refresh_expires_at, time.time() if now is None else now)

    def describe(self, now: float | None = None) -> str:
        """One line for people, e.g. ``authorized; token expires at 2026-11-29 12:00 UTC``."""
        now = time.time() if now is None else now
        failure = f"last failure: {self.last_failure.describe()}" if self.last_failure else None
        if self.state == "not_authorized":
            head = "not authorized yet; authorize it from the OAuth profiles page or the CLI"
            return head + (f"; {failure}" if failure else "")
        if self.state == "needs_reauthorization":
            return "needs re-authorization" + (f": {self.last_error}" if self.last_error else "")
        if self.state == "error":
            if failure:  # a Test refused these settings: when and where it was, and what it named
                return failure
            return "error" + (f": {self.last_error}" if self.last_error else "")
        if self.state == "not_tested":
            return "not tested yet: no token requested so far (press Test, or run a task)"
        if self.state == "failing":
            text = failure or "last failure: " + (self.last_error or "unknown")
            if self.expires_at is not None and self.expires_at > now:
                text += f" (a cached token is still valid until {format_time(self.expires_at)})"
            return text
        head = "authorized" if self.state == "authorized" else "ready"
        return f"{head}; {self._token_text(now)}"

    def _token_text(self, now: float) -> str:
        if self.expires_at is not None:
            verb = "expires" if self.expires_at > now else "expired"
            text = f"token {verb} at {format_time(self.expires_at)}"
            if self.expires_at <= now:
                text += " (renewed on next use)"
        elif self.last_refresh is not None:
            text = f"token obtained at {format_time(self.last_refresh)}, no expiry given"
        else:
            text = "no token cached yet (obtained on first use)"
        if self.state == "authorized" and not self.refresh_token_present:
            text += "; no refresh token: authorize again when the token expires"
        refresh_expiry = self.refresh_expiry_text(now)
        if refresh_expiry:
            text += f"; {refresh_expiry}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """
        JSON-ready form (for the UI): every field (times as epoch seconds or ``null``; ``last_failure`` as
        ``{kind, message, at, where}`` or ``null``), plus ``description``, the one-line :meth:`describe`, and
        ``refresh_expiry_text`` (:meth:`refresh_expiry_text`, or ``null``).
        """
        data = asdict(self)
        now = time.time()
        data["description"] = self.describe(now)
        data["refresh_expiry_text"] = self.refresh_expiry_text(now)
        return data


def profile_status(profile: OAuthProfile, store: TokenStore | None = None) -> ProfileStatus:
    """The authorization status of ``profile``: its refresh token, the cached token and the status record."""
    try:
        store = store_for(profile, store)
        token = store.load(profile.cache_key)
        record = as_token_status(store.load_status(profile.cache_key))
    except OAuthConnectorError as exc:
        return ProfileStatus(
            conn_id=profile.conn_id,
            grant_type=profile.grant_type.value,
            state="error",
            scope=profile.scope,
            last_error=_scrub(f"token store unavailable: {exc}", known_secrets(profile)),
            refresh_token_present=bool(profile.refresh_token),
        )
    secrets = known_secrets(profile, token)
    refresh_present = bool(profile.refresh_token or (token is not None and token.refresh_token))
    failure = _failure_info(record, secrets)
    newer_grant = _holds_newer_grant(profile, token)
    if newer_grant and record.needs_reauthorization:
        failure = None  # the rejection was of the grant this connection's refresh token replaced
    state: State
    if not profile.grant_type.needs_person:  # machine grants (client credentials, token exchange, ...)
        state = "ready" if record.last_success is not None or token is not None else "not_tested"
    elif refresh_present or token is not None:
        state = "authorized"
    else:
        state = "not_authorized"
    last_error = failure.describe() if failure else None
    if record.needs_reauthorization and profile.grant_type is GrantType.AUTHORIZATION_CODE and not newer_grant:
        state = "needs_reauthorization"
    elif failure is not None and state in ("ready", "not_tested", "authorized"):
        state = "failing"
    now = time.time()
    expired = token is not None and token.expires_at is not None and token.expires_at <= now
    if state == "authorized" and not refresh_present and expired:
        state = "needs_reauthorization"
        last_error = last_error or "the access token expired and there is no refresh token"
    refresh_expires_at = _refresh_expiry(token, newer_grant)
    if state == "authorized" and refresh_expires_at is not None and refresh_expires_at <= now:
        state = "needs_reauthorization"  # the next refresh would be rejected: token managers do not send it
        last_error = last_error or _refresh_expiry_text(refresh_expires_at, now)
    issued = token.issued_at if token is not None and token.issued_at > 0 else None
    return ProfileStatus(
        conn_id=profile.conn_id,
        grant_type=profile.grant_type.value,
        state=state,
        expires_at=None if token is None else token.expires_at,
        scope=(token.scope if token is not None and token.scope else profile.scope),
        last_refresh=issued or record.last_refresh,
        last_error=last_error,
        refresh_token_present=refresh_present,
        last_failure=failure,
        last_success=record.last_success,
        refresh_expires_at=refresh_expires_at,
    )


def _refresh_expiry_text(expires_at: float, now: float) -> str:
    left = expires_at - now
    if left <= 0:
        return f"refresh token expired at {format_time(expires_at)} — authorize again"
    text = f"refresh token expires in {format_duration(left)}"
    return text + (" — authorize again before then" if left <= REFRESH_WARNING_SECONDS else "")


def _refresh_expiry(token: Token | None, newer_grant: bool) -> float | None:
    """The stated expiry of the refresh token the next refresh uses: the stored chain's, unless a newer grant
    replaced it (the connection's own refresh token has no known lifetime)."""
    if token is None or newer_grant or not token.refresh_token:
        return None
    return token.refresh_expires_at


def connection_status(conn_id: str, store: TokenStore | None = None) -> ProfileStatus:
    """:func:`profile_status` of a connection looked up by id; an invalid connection is an ``error`` status."""
    return connection_profile_status(conn_id, store)[1]


def connection_profile_status(
    conn_id: str, store: TokenStore | None = None
) -> tuple[OAuthProfile | None, ProfileStatus]:
    """The connection's profile (``None``: it cannot be loaded) and its status, from one lookup."""
    try:
        profile = load_profile(conn_id)
    except ProfileError as exc:
        return None, _invalid_status(conn_id, exc, store)
    except OAuthConnectorError as exc:
        error = str(exc)[:_MAX_ERROR]
        return None, ProfileStatus(conn_id=conn_id, grant_type="unknown", state="error", last_error=error)
    return profile, profile_status(profile, store)


def _invalid_status(conn_id: str, error: ProfileError, store: TokenStore | None) -> ProfileStatus:
    """The ``error`` status of a connection whose settings are refused, with a Test that failed on them."""
    text = str(error)
    failure = _settings_failure(conn_id, text, store)
    return ProfileStatus(conn_id=conn_id, grant_type="unknown", state="error", last_error=text, last_failure=failure)


def _settings_failure(conn_id: str, error_text: str, store: TokenStore | None) -> FailureInfo | None:
    """
    The recorded Test that failed on the connection's settings, if it named the problems they have now (one
    of settings since changed is not theirs, as a token failure is not a new client secret's). A store that
    cannot be read shows none: the status is ``error`` anyway.
    """
    try:
        record = as_token_status(settings_store(store).load_status(settings_key(conn_id)))
    except Exception:
        return None
    if record.failure is None or record.failure.message != redact(error_text, limit=MAX_MESSAGE):
        return None
    return _failure_info(record, [])


def _holds_newer_grant(profile: OAuthProfile, token: Token | None) -> bool:
    """The connection's refresh token supersedes the rejected cached chain (re-authorized): newest grant wins."""
    return (
        token is not None
        and profile.grant_type is GrantType.AUTHORIZATION_CODE
        and superseded(token, refresh_origin(profile.refresh_token))
    )


def _failure_info(record: TokenStatus, secrets: list[str]) -> FailureInfo | None:
    """The recorded failure, redacted, if it is the last outcome (a later success clears it)."""
    failure: Failure | None = record.failure
    if failure is None or not record.last_event_failed:
        return None
    return FailureInfo(
        kind=_scrub(failure.kind, secrets),
        message=_scrub(failure.message, secrets),
        at=failure.at if failure.at > 0 else None,
        where=_scrub(failure.where, secrets),
    )


def _scrub(text: str, secrets: list[str]) -> str:
    return redact(text, secrets=secrets, limit=_MAX_ERROR - 3, queries=False)
