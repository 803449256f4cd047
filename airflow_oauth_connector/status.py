"""
Typed status records that token stores keep beside tokens (a connection's authorization state, call markers).

Two kinds of record live in a store's status slot (JSON, never pickles; stored through the store's codec,
so Fernet-encrypted like tokens when Airflow has a key):

:class:`TokenStatus` (under a profile's cache key)
    what the OAuth profiles page and ``airflow-oauth-connector status`` show: the authorization
    :class:`AuthState` (``None``: nothing recorded yet, e.g. "not tested yet"), the last :class:`Failure`
    (kind, redacted message, when, where: ``"test"``, ``"cli"``, ``"page"`` or ``"dag_id/task_id/try N"``),
    the last success and the last token refresh, and a :class:`RefreshInFlight` record written *before* a
    rotating refresh is sent, so the next holder of the refresh lock can tell that one may have been lost.
:class:`CallMarker` (under a deferred call's marker key)
    the at-most-once record of a non-idempotent request made by the trigger: ``sent`` before, ``done`` after.

:func:`status_from_dict` also reads the untyped records of earlier versions
(``{"state": "needs_reauthorization", "error": "invalid_grant", "at": ...}``, ``{"state": "sent", ...}``).
Nothing in a record is secret: failure messages are redacted before they are recorded. :func:`update_status`
is how every outcome is recorded (read, change, save; a failing store never fails the caller).
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from airflow_oauth_connector.redaction import redact

if TYPE_CHECKING:
    from airflow_oauth_connector.store.base import TokenStore

log = logging.getLogger(__name__)

#: Longest failure message kept in a record (a token error with its connection, URL and hint fits).
MAX_MESSAGE = 500

TOKEN_STATUS = "token_status"
CALL_MARKER = "call_marker"

INVALID_SETTINGS = "invalid_settings"
"""The kind of a failure of a connection's settings (a Test of settings the profile loader refuses)."""


class AuthState(str, enum.Enum):
    """Whether a person's authorization is in place (authorization-code connections)."""

    NOT_AUTHORIZED = "not_authorized"
    AUTHORIZED = "authorized"
    NEEDS_REAUTHORIZATION = "needs_reauthorization"


class Where(str, enum.Enum):
    """Where a failure or success happened, when not in a task (tasks use :func:`task_where`)."""

    TEST = "test"
    CLI = "cli"
    PAGE = "page"
    WORKER = "worker"
    """A token manager outside any known context (e.g. a hook used in a script)."""


def format_time(epoch: float) -> str:
    """``2026-12-02 01:23 UTC``: how status records' times are shown (pages, CLI, task logs)."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def format_duration(seconds: float) -> str:
    """``12 days``, ``5 hours``, ``1 minute``: how long until a time, as shown (whole units, rounded down)."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count = int(seconds // size)
        if count >= 1:
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "less than a minute"


def settings_key(conn_id: str) -> str:
    """
    The status key of a Test of connection ``conn_id`` that failed on its settings: with settings that do not
    parse there is no profile, so no cache key to record under (``<conn_id>:settings``; cache keys end in hex).
    """
    return f"{conn_id}:settings"


def task_where(dag_id: str, task_id: str, try_number: int | str) -> str:
    """``"dag_id/task_id/try N"``: where a task's failure happened."""
    return f"{dag_id}/{task_id}/try {try_number}"


_WHERE: contextvars.ContextVar[str | None] = contextvars.ContextVar("oauth_connector_where", default=None)


@contextlib.contextmanager
def recording_where(where: Where | str) -> Iterator[None]:
    """Within the block, token requests' outcomes are recorded as happening at ``where`` (e.g. ``"test"``)."""
    reset = _WHERE.set(where.value if isinstance(where, Where) else where)
    try:
        yield
    finally:
        _WHERE.reset(reset)


def current_where() -> str:
    """
    Where a token request happens now: the innermost :func:`recording_where` (``"test"``, ``"page"``, ``"cli"``),
    else the running task as ``"dag_id/task_id/try N"``, else ``"worker"``.

    The task is read from the ``AIRFLOW_CTX_DAG_ID`` / ``AIRFLOW_CTX_TASK_ID`` / ``AIRFLOW_CTX_TRY_NUMBER``
    variables that the Task SDK's task runner exports into the task process before ``execute``
    (``airflow.sdk.execution_time.task_runner``: ``os.environ.update(context_to_airflow_vars(...))``; so in
    task-sdk 1.1.8, 1.2.2 and 1.3.2, i.e. Airflow 3.1, 3.2 and 3.3). The deferrable operator's trigger names
    its task instance itself (:meth:`~airflow_oauth_connector.triggers.oauth.OAuthConnectorTrigger.where`).
    """
    where = _WHERE.get()
    if where:
        return where
    dag_id, task_id = os.environ.get("AIRFLOW_CTX_DAG_ID"), os.environ.get("AIRFLOW_CTX_TASK_ID")
    if dag_id and task_id:
        return task_where(dag_id, task_id, os.environ.get("AIRFLOW_CTX_TRY_NUMBER") or "?")
    return Where.WORKER.value


def failure_kind(error: BaseException) -> str:
    """
    The short kind a failure is recorded under: the OAuth error code (``invalid_client``, ``invalid_grant``),
    ``unreachable`` / ``timeout`` for a token URL that could not be reached, ``bad_response`` for an answer
    that is no token response, ``id_token_mismatch`` for an OpenID Connect ID Token that is not the request's,
    ``invalid_settings`` for settings the profile loader refuses, else the exception's class name.
    """
    from airflow_oauth_connector.exceptions import (
        ConnectionSettingsError,
        EndpointUnreachableError,
        IdTokenError,
        TokenResponseError,
    )

    if isinstance(error, ConnectionSettingsError):
        return INVALID_SETTINGS
    code = getattr(error, "error", None)
    if isinstance(code, str) and code:
        return code
    if isinstance(error, EndpointUnreachableError):
        return "timeout" if error.cause == "timeout" else "unreachable"
    if isinstance(error, IdTokenError):
        return "id_token_mismatch"
    if isinstance(error, TokenResponseError):
        return "bad_response"
    return type(error).__name__


@dataclass(frozen=True)
class Failure:
    """The last failure of a connection: an error kind, a redacted message, when and where."""

    kind: str
    """The OAuth error code (``invalid_grant``, ``invalid_client``) or the exception class name."""
    message: str
    at: float
    where: str = Where.WORKER.value

    @classmethod
    def of(cls, error: BaseException, *, at: float, where: str, secrets: tuple[str | None, ...] = ()) -> Failure:
        """The failure ``error`` describes, its message redacted (known ``secrets``, URL queries) and cut."""
        message = redact(str(error), secrets=secrets, limit=MAX_MESSAGE)
        return cls(kind=failure_kind(error), message=message, at=at, where=where)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "at": self.at, "where": self.where}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Failure | None:
        kind = data.get("kind")
        if not isinstance(kind, str) or not kind:
            return None
        return cls(
            kind=kind,
            message=_text(data.get("message")),
            at=_number(data.get("at")) or 0.0,
            where=_text(data.get("where")) or Where.WORKER.value,
        )


@dataclass(frozen=True)
class RefreshInFlight:
    """A rotating refresh was sent at ``started_at`` by ``holder`` (``host:pid``) and may not have been saved."""

    started_at: float
    holder: str
    chain: str | None = None
    """The origin (a digest, never the token) of the refresh-token chain being refreshed."""
    attempt: int = 1
    """1 for a refresh; 2 for the one recovery attempt after a refresh that did not finish."""

    @classmethod
    def now(cls, at: float, chain: str | None = None, attempt: int = 1) -> RefreshInFlight:
        return cls(started_at=at, holder=f"{socket.gethostname()}:{os.getpid()}", chain=chain, attempt=attempt)

    def to_dict(self) -> dict[str, Any]:
        return {"started_at": self.started_at, "holder": self.holder, "chain": self.chain, "attempt": self.attempt}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RefreshInFlight | None:
        started = _number(data.get("started_at"))
        if started is None:
            return None
        chain = data.get("chain")
        attempt = data.get("attempt")
        return cls(
            started_at=started,
            holder=_text(data.get("holder")),
            chain=chain if isinstance(chain, str) else None,
            attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt > 0 else 1,
        )


@dataclass(frozen=True)
class TokenStatus:
    """What is known about a connection's authorization and its token requests (no secret)."""

    state: AuthState | None = None
    failure: Failure | None = None
    last_success: float | None = None
    """When a token request (or a test) last succeeded."""
    last_refresh: float | None = None
    """When a token was last obtained or refreshed."""
    in_flight: RefreshInFlight | None = None
    chain: str | None = None
    """The grant (origin digest of its refresh-token chain) that ``state`` is about; a newer grant is not."""

    @property
    def needs_reauthorization(self) -> bool:
        return self.state is AuthState.NEEDS_REAUTHORIZATION

    def failed(self, failure: Failure, state: AuthState | None = None, *, keep_in_flight: bool = False) -> TokenStatus:
        """
        This status after ``failure`` (and, if given, the new ``state``); the last success is kept. The
        in-flight refresh ends, unless ``keep_in_flight`` (the refresh may have been processed: it stays).
        """
        in_flight = self.in_flight if keep_in_flight else None
        return replace(self, failure=failure, state=state or self.state, in_flight=in_flight)

    def succeeded(self, at: float, *, refreshed: bool = True, state: AuthState | None = None) -> TokenStatus:
        """
        This status after a success at ``at``: the failure is cleared, ``needs re-authorization`` and
        ``not authorized`` too; an in-flight refresh ended.
        """
        new_state = state or (self.state if self.state is AuthState.AUTHORIZED else None)
        return TokenStatus(
            state=new_state,
            failure=None,
            last_success=at,
            last_refresh=at if refreshed else self.last_refresh,
            in_flight=None,
        )

    def refreshing(self, in_flight: RefreshInFlight) -> TokenStatus:
        """
        This status with ``in_flight`` recorded for its chain; the last failure and success are kept. A
        state about another grant (e.g. an older chain's "needs re-authorization") does not carry over.
        """
        state = self.state if self.chain == in_flight.chain else None
        if state is AuthState.NOT_AUTHORIZED:  # a refresh is being sent: there is a refresh token
            state = None
        return replace(self, state=state, in_flight=in_flight, chain=in_flight.chain)

    @property
    def last_event_failed(self) -> bool:
        """Whether the last recorded outcome is a failure (a failure is cleared by the next success)."""
        return self.failure is not None and (self.last_success is None or self.failure.at >= self.last_success)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": TOKEN_STATUS,
            "state": None if self.state is None else self.state.value,
            "failure": None if self.failure is None else self.failure.to_dict(),
            "last_success": self.last_success,
            "last_refresh": self.last_refresh,
            "in_flight": None if self.in_flight is None else self.in_flight.to_dict(),
            "chain": self.chain,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenStatus:
        failure = data.get("failure")
        in_flight = data.get("in_flight")
        return cls(
            state=_state(data.get("state")),
            failure=Failure.from_dict(failure) if isinstance(failure, Mapping) else None,
            last_success=_number(data.get("last_success")),
            last_refresh=_number(data.get("last_refresh")),
            in_flight=RefreshInFlight.from_dict(in_flight) if isinstance(in_flight, Mapping) else None,
            chain=data["chain"] if isinstance(data.get("chain"), str) else None,
        )


CallState = Literal["sent", "done"]


@dataclass(frozen=True)
class CallMarker:
    """At-most-once record of one non-idempotent deferred request: ``sent`` before it goes out, ``done`` after."""

    state: CallState
    at: float
    http_status: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": CALL_MARKER, "state": self.state, "at": self.at, "http_status": self.http_status}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallMarker:
        state: CallState = "done" if data.get("state") == "done" else "sent"
        status = data.get("http_status", data.get("status"))
        http_status = status if isinstance(status, int) and not isinstance(status, bool) else None
        return cls(state=state, at=_number(data.get("at")) or 0.0, http_status=http_status)


StatusRecord = TokenStatus | CallMarker


def status_to_dict(record: StatusRecord) -> dict[str, Any]:
    return record.to_dict()


def status_from_dict(data: Mapping[str, Any]) -> StatusRecord:
    """The record ``data`` holds; records without a ``kind`` (earlier versions) are read by their ``state``."""
    kind = data.get("kind")
    if kind == CALL_MARKER or (kind is None and data.get("state") in ("sent", "done")):
        return CallMarker.from_dict(data)
    if kind == TOKEN_STATUS:
        return TokenStatus.from_dict(data)
    return _legacy_status(data)


def as_token_status(record: StatusRecord | None) -> TokenStatus:
    """``record`` if it is a :class:`TokenStatus`, else an empty one (nothing recorded)."""
    return record if isinstance(record, TokenStatus) else TokenStatus()


StatusChange = TokenStatus | Callable[[TokenStatus], TokenStatus]
"""How an outcome changes a status record: a function of the stored record, or the new record itself."""


def update_status(
    store: TokenStore | Callable[[], TokenStore],
    key: str,
    change: StatusChange | None,
    *,
    conn_id: str,
    what: str,
    lock: bool = False,
) -> TokenStatus | None:
    """
    Record an outcome in the status record under ``key``; returns the record saved (``None``: none saved).

    ``change`` is applied to the stored record (read here), or, given as a :class:`TokenStatus` built from a
    record the caller has just read or written, saved as it is without a read; ``None`` removes the record.
    ``store`` may be given as how to find it (finding it may fail too, e.g. no store configured). With
    ``lock`` the update holds the key's lock (a caller that already holds it passes ``False``). A store that
    fails is logged as a warning naming ``what`` was not recorded, the connection and the error's class
    (never its message, which could quote a stored value) and is ignored: the status the pages show is not
    worth failing the caller's operation for.
    """
    try:
        target = store() if callable(store) else store
        with target.lock(key) if lock else contextlib.nullcontext():
            if change is None:
                target.clear_status(key)
                return None
            status = change if isinstance(change, TokenStatus) else change(as_token_status(target.load_status(key)))
            target.save_status(key, status)
        return status
    except Exception as exc:
        log.warning(
            "Connection %r: could not record %s in the token store (%s); the OAuth profiles page and the CLI "
            "may show an older status",
            conn_id,
            what,
            type(exc).__name__,
        )
        return None


def _legacy_status(data: Mapping[str, Any]) -> TokenStatus:
    """``{"state": ..., "error": ..., "description": ..., "at": ...}`` as written before typed records."""
    state = _state(data.get("state"))
    error = data.get("error")
    if not error:
        return TokenStatus(state=state)
    description = _text(data.get("description") or data.get("error_description"))
    at = _number(data.get("at")) or 0.0
    return TokenStatus(state=state, failure=Failure(kind=str(error), message=description, at=at))


def _state(value: Any) -> AuthState | None:
    try:
        return AuthState(value)
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def _text(value: Any) -> str:
    return redact(str(value), limit=MAX_MESSAGE) if value else ""
