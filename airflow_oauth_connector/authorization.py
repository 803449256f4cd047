"""
Record and report the authorization of a connection (authorization-code grant).

Used by the Airflow UI plugin (api-server) and the ``airflow-oauth-connector`` CLI. No web framework here:

- :func:`profile_status` says whether a profile is authorized, from the profile (its stored refresh token),
  the token store's cached token (expiry, scope, when it was obtained) and the store's status record
  (e.g. ``{"state": "needs_reauthorization", "error": "invalid_grant", "at": ...}`` written by workers);
- :func:`save_authorization` writes a freshly obtained token into the connection's ``extra`` (which Airflow
  encrypts with its Fernet key) and into the token store, so the newest authorization wins for workers;
- :func:`forget_tokens` removes them again (the client secret stays).

Nothing here returns, logs or formats a token, code or secret: :class:`ProfileStatus` holds only metadata.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from airflow_oauth_connector import capture
from airflow_oauth_connector.exceptions import AuthorizationStorageError, OAuthConnectorError, ProfileError
from airflow_oauth_connector.profile import CONN_TYPE, GrantType, OAuthProfile
from airflow_oauth_connector.redaction import redact
from airflow_oauth_connector.status import Failure, as_token_status
from airflow_oauth_connector.store.factory import store_for
from airflow_oauth_connector.token import Token, refresh_origin, superseded
from airflow_oauth_connector.token_client import TokenClient

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from airflow_oauth_connector.store.base import TokenStore

State = Literal["not_authorized", "authorized", "needs_reauthorization", "error", "ready"]

STATES: tuple[State, ...] = ("not_authorized", "authorized", "needs_reauthorization", "error", "ready")

#: Keys of the connection extra written by :func:`save_authorization`; every one holding a secret has
#: ``token`` in its name, so Airflow's secrets masker hides it in the UI and in logs.
REFRESH_TOKEN_KEY = "refresh_token"
ACCESS_TOKEN_KEY = "access_token"
ACCESS_TOKEN_EXPIRES_KEY = "access_token_expires_at"
AUTHORIZED_AT_KEY = "authorized_at"
AUTHORIZED_SCOPE_KEY = "authorized_scope"
CAPTURED_KEY = "captured"
"""Values captured at authorization (callback parameters, token-response fields, a post-authorization call)."""
AUTHORIZATION_KEYS = (
    REFRESH_TOKEN_KEY,
    ACCESS_TOKEN_KEY,
    ACCESS_TOKEN_EXPIRES_KEY,
    AUTHORIZED_AT_KEY,
    AUTHORIZED_SCOPE_KEY,
    CAPTURED_KEY,
)

_MAX_ERROR = 300


@dataclass(frozen=True)
class ProfileStatus:
    """Whether a connection is authorized, and how its token looks. Holds no secret."""

    conn_id: str
    grant_type: str
    state: State
    expires_at: float | None = None
    """Epoch seconds at which the cached access token expires (``None``: no token cached, or unknown)."""
    scope: str | None = None
    """The cached token's granted scope, else the profile's requested scope."""
    last_refresh: float | None = None
    """Epoch seconds at which the cached token was obtained."""
    last_error: str | None = None
    refresh_token_present: bool = False

    def describe(self, now: float | None = None) -> str:
        """One line for people, e.g. ``authorized; token expires at 2026-11-29 12:00 UTC``."""
        now = time.time() if now is None else now
        if self.state == "not_authorized":
            return "not authorized yet; authorize it from the OAuth profiles page or the CLI"
        if self.state == "needs_reauthorization":
            return "needs re-authorization" + (f": {self.last_error}" if self.last_error else "")
        if self.state == "error":
            return "error" + (f": {self.last_error}" if self.last_error else "")
        head = "authorized" if self.state == "authorized" else "ready (client credentials)"
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
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the UI), with the one-line description."""
        data = asdict(self)
        data["description"] = self.describe()
        return data


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


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
            last_error=_scrub(f"token store unavailable: {exc}", _secrets(profile, None)),
            refresh_token_present=bool(profile.refresh_token),
        )
    secrets = _secrets(profile, token)
    refresh_present = bool(profile.refresh_token or (token is not None and token.refresh_token))
    state: State
    if profile.grant_type is GrantType.CLIENT_CREDENTIALS:
        state = "ready"
    elif refresh_present or token is not None:
        state = "authorized"
    else:
        state = "not_authorized"
    last_error = _failure_text(record.failure, secrets)
    if record.needs_reauthorization and profile.grant_type is GrantType.AUTHORIZATION_CODE:
        if _holds_newer_grant(profile, token):
            last_error = None
        else:
            state = "needs_reauthorization"
    expired = token is not None and token.expires_at is not None and token.expires_at <= time.time()
    if state == "authorized" and not refresh_present and expired:
        state = "needs_reauthorization"
        last_error = last_error or "the access token expired and there is no refresh token"
    return ProfileStatus(
        conn_id=profile.conn_id,
        grant_type=profile.grant_type.value,
        state=state,
        expires_at=None if token is None else token.expires_at,
        scope=(token.scope if token is not None and token.scope else profile.scope),
        last_refresh=(token.issued_at if token is not None and token.issued_at > 0 else None),
        last_error=last_error,
        refresh_token_present=refresh_present,
    )


def connection_status(conn_id: str, store: TokenStore | None = None) -> ProfileStatus:
    """:func:`profile_status` of a connection looked up by id; an invalid connection is an ``error`` status."""
    try:
        profile = load_profile(conn_id)
    except ProfileError as exc:
        return ProfileStatus(conn_id=conn_id, grant_type="unknown", state="error", last_error=str(exc))
    except OAuthConnectorError as exc:
        return ProfileStatus(conn_id=conn_id, grant_type="unknown", state="error", last_error=str(exc)[:_MAX_ERROR])
    return profile_status(profile, store)


def load_profile(conn_id: str) -> OAuthProfile:
    """
    The profile of connection ``conn_id``: from the Airflow metadata database, else from any other source
    Airflow reads connections from (environment variables, secrets backends).
    """
    with _session(None) as db:
        conn = _find_connection(db, conn_id)
        if conn is not None:
            _check_type(conn)
            return _profile_of(conn)
    from airflow.models import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        raise OAuthConnectorError(f"Connection {conn_id!r} is not defined") from None
    _check_type(conn)
    return _profile_of(conn)


def stored_extra(conn_id: str, *, session: Session | None = None) -> dict[str, Any]:
    """The stored connection's ``extra`` (decrypted; it may hold tokens: never print or log it)."""
    with _session(session) as db:
        return _extra_of(_db_connection(db, conn_id))


def stored_profile(conn_id: str, *, session: Session | None = None) -> OAuthProfile:
    """
    The profile of connection ``conn_id`` as stored in the Airflow metadata database.

    Raises :class:`AuthorizationStorageError` when it is not stored there (its authorization could not be
    saved) and :class:`ProfileError` when it is invalid: check this before sending a person to authorize.
    """
    with _session(session) as db:
        return _profile_of(_db_connection(db, conn_id))


def list_connection_ids(*, session: Session | None = None) -> list[str]:
    """Ids of the ``oauth_connector`` connections stored in the Airflow metadata database, sorted."""
    from airflow.models import Connection
    from sqlalchemy import select

    with _session(session) as db:
        rows = db.scalars(select(Connection.conn_id).where(Connection.conn_type == CONN_TYPE))
        return sorted(rows)


def save_authorization(conn_id: str, token: Token, *, session: Session | None = None) -> None:
    """
    Record ``token`` as the connection's authorization, where tasks will find it.

    The refresh token (and the current access token, its expiry, when and with which scope it was
    authorized) go into the connection's ``extra`` in the Airflow metadata database, which Airflow encrypts
    with its Fernet key. A response without a new refresh token keeps the stored one. Then the token is
    saved in the profile's token store under its cache key and any "needs re-authorization" status is
    cleared, so workers use the newest authorization at once. With ``session`` the caller commits.
    """
    with _session(session) as db:
        conn = _db_connection(db, conn_id)
        extra = _extra_of(conn)
        if token.refresh_token:
            extra[REFRESH_TOKEN_KEY] = token.refresh_token
        extra[ACCESS_TOKEN_KEY] = token.access_token
        extra[ACCESS_TOKEN_EXPIRES_KEY] = token.expires_at
        extra[AUTHORIZED_AT_KEY] = token.issued_at or time.time()
        extra[AUTHORIZED_SCOPE_KEY] = token.scope
        if token.captured:
            extra[CAPTURED_KEY] = dict(token.captured)
        else:
            extra.pop(CAPTURED_KEY, None)
        conn.set_extra(json.dumps(extra))
        db.flush()
        profile = _profile_of(conn)
    # The origin ties the cached token to the connection's refresh token, so that token managers treat it
    # as the newest grant (and not as superseded by the connection's refresh token).
    cached = token.with_origin(refresh_origin(profile.refresh_token))
    store = store_for(profile)
    with store.lock(profile.cache_key):
        store.save(profile.cache_key, cached)
        store.clear_status(profile.cache_key)


def forget_tokens(conn_id: str, *, session: Session | None = None) -> None:
    """Remove the stored refresh and access tokens from the connection and its token store."""
    with _session(session) as db:
        conn = _db_connection(db, conn_id)
        extra = _extra_of(conn)
        for key in AUTHORIZATION_KEYS:
            extra.pop(key, None)
        conn.set_extra(json.dumps(extra) if extra else None)
        db.flush()
        profile = _profile_of(conn)
    store = store_for(profile)
    with store.lock(profile.cache_key):
        store.delete(profile.cache_key)
        store.clear_status(profile.cache_key)


def exchange_and_save(
    profile: OAuthProfile,
    code: str,
    code_verifier: str | None,
    redirect_uri: str | None,
    *,
    client: TokenClient | None = None,
    callback_params: Mapping[str, str] | None = None,
) -> ProfileStatus:
    """
    Exchange an authorization code (with its PKCE verifier), capture the values the connection keeps
    (callback parameters such as ``realmId``, a post-authorization call), record the token, return the status.
    """
    client = client or TokenClient(profile)
    capture.callback_values(profile, callback_params or {})  # refuse before the code is spent
    token = client.exchange_code(code, code_verifier=code_verifier, redirect_uri=redirect_uri)
    token = capture.complete(profile, token, callback_params or {}, client)
    save_authorization(profile.conn_id, token)
    return connection_status(profile.conn_id)


# -- helpers ----------------------------------------------------------------------------------------------


@contextmanager
def _session(session: Session | None) -> Iterator[Session]:
    if session is not None:
        yield session
        return
    from airflow.utils.session import create_session

    with create_session() as created:
        yield created


def _find_connection(db: Session, conn_id: str) -> Any:
    from airflow.models import Connection
    from sqlalchemy import select

    return db.scalar(select(Connection).where(Connection.conn_id == conn_id))


def _db_connection(db: Session, conn_id: str) -> Any:
    conn = _find_connection(db, conn_id)
    if conn is None:
        raise AuthorizationStorageError(
            f"Connection {conn_id!r} is not stored in the Airflow metadata database, so its authorization "
            f"cannot be saved with it (connections from environment variables or a secrets backend are "
            f"read-only): create it with the UI or 'airflow connections add', or store the refresh token in "
            f"its 'refresh_token' extra field yourself"
        )
    _check_type(conn)
    return conn


def _check_type(conn: Any) -> None:
    if conn.conn_type != CONN_TYPE:
        raise AuthorizationStorageError(
            f"Connection {conn.conn_id!r} has type {conn.conn_type!r}, not {CONN_TYPE!r} (OAuth 2.0 API)"
        )


def _extra_of(conn: Any) -> dict[str, Any]:
    try:
        extra = json.loads(conn.extra) if conn.extra else {}
    except ValueError:
        raise ProfileError(conn.conn_id, "extra", "is not valid JSON") from None
    if not isinstance(extra, dict):
        raise ProfileError(conn.conn_id, "extra", "expected a JSON object")
    return extra


def _profile_of(conn: Any) -> OAuthProfile:
    return OAuthProfile.from_fields(
        conn.conn_id,
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        extra=_extra_of(conn),
    )


def _holds_newer_grant(profile: OAuthProfile, token: Token | None) -> bool:
    """The connection's refresh token supersedes the rejected cached chain (re-authorized): newest grant wins."""
    return (
        token is not None
        and profile.grant_type is GrantType.AUTHORIZATION_CODE
        and superseded(token, refresh_origin(profile.refresh_token))
    )


def _secrets(profile: OAuthProfile, token: Token | None) -> list[str]:
    values = [profile.client_secret, profile.refresh_token]
    if token is not None:
        values += [token.access_token, token.refresh_token]
    return [v for v in values if v]


def _failure_text(failure: Failure | None, secrets: list[str]) -> str | None:
    """``kind: message (at time)`` of a recorded failure, redacted."""
    if failure is None:
        return None
    text = failure.kind + (f": {failure.message}" if failure.message else "")
    if failure.at > 0:
        text += f" (at {format_time(failure.at)})"
    return _scrub(text, secrets)


def _scrub(text: str, secrets: list[str]) -> str:
    return redact(text, secrets=secrets, limit=_MAX_ERROR - 3, queries=False)
