"""One retry policy (tenacity) for token-endpoint and API calls: what is transient, Retry-After, bounds."""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import errno
import http.client
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
import requests
import tenacity
from urllib3.exceptions import NameResolutionError, NewConnectionError, ProtocolError, ReadTimeoutError

from airflow_oauth_connector.exceptions import EndpointUnreachableError, UnreachableCause
from airflow_oauth_connector.redaction import drop_query, redact

log = logging.getLogger(__name__)

#: Statuses that say "the request was not processed, try again later": safe to retry for any method.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
#: Statuses worth retrying when the request can be replayed safely (idempotent methods).
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retry loop; every field can be set per connection and per call."""

    max_attempts: int = 5
    """Attempts in all, the first included (1 disables retries)."""
    max_elapsed: float = 120.0
    """Seconds the whole loop may take, waits included; no wait that would pass it is started."""
    backoff_initial: float = 0.5
    """First exponential backoff wait in seconds (doubles each attempt, with jitter)."""
    backoff_max: float = 30.0
    """Ceiling of one backoff wait; a server's Retry-After is honoured up to ``max_elapsed``."""
    retry_non_idempotent: bool = False
    """Replay POST/PATCH after a read timeout or 5xx (they may have been processed already)."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_elapsed <= 0 or self.backoff_initial < 0 or self.backoff_max < 0:
            raise ValueError("max_elapsed must be positive and backoff waits not negative")

    def replace(self, **changes: object) -> RetryPolicy:
        """A copy with ``changes`` applied; ``None`` values are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now or datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())


class HttpResponse(Protocol):
    """What the policy reads of a response: a ``requests.Response`` or an ``httpx.Response``."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Any: ...


R = TypeVar("R", bound=HttpResponse)

#: Transport errors of either HTTP library (requests for the hook, httpx for the trigger).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (requests.exceptions.RequestException, httpx.TransportError)
#: httpx errors raised before any byte of the request was sent (connect failed, timed out, pool full).
_HTTPX_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: httpx errors worth another attempt when the request may be replayed.
_HTTPX_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _never_sent(exc: BaseException, chain: Sequence[BaseException] | None = None) -> bool:
    """
    True when the request surely never reached the server (connect failed or timed out). ``chain`` is
    ``_chain(exc)`` when the caller has walked it already (it is walked here otherwise).
    """
    if isinstance(exc, (requests.exceptions.ConnectTimeout, *_HTTPX_NEVER_SENT)):
        return True
    return any(isinstance(e, NewConnectionError) for e in (_chain(exc) if chain is None else chain))


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (urllib3's ``reason``, ``args[0]``, causes and contexts), each once."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 16:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        nested = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        reason = getattr(current, "reason", None)
        todo += [e for e in (nested, reason, current.__cause__, current.__context__) if isinstance(e, BaseException)]
    return seen


def is_transient_error(exc: BaseException, *, replayable: bool) -> bool:
    """Whether a transport error is worth another attempt."""
    if _never_sent(exc):
        return True
    transport = (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
        *_HTTPX_TRANSIENT,
    )
    return replayable and isinstance(exc, transport)


def is_transient_response(response: HttpResponse, *, replayable: bool) -> bool:
    """Whether an HTTP response is worth another attempt."""
    if response.status_code in NOT_PROCESSED_STATUSES:
        return True
    return replayable and response.status_code in TRANSIENT_STATUSES


class _Wait(tenacity.wait.wait_base):
    """Retry-After when the server sent one, else exponential backoff with full jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = tenacity.wait_random_exponential(multiplier=policy.backoff_initial, max=policy.backoff_max)
        self._floor = min(policy.backoff_initial / 2, policy.backoff_max)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and not outcome.failed:
            response = outcome.result()
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                return retry_after
        return max(self._floor, float(self._backoff(retry_state)))


def send_with_retry(
    send: Callable[[], R],
    policy: RetryPolicy,
    *,
    method: str,
    url: str,
    replayable: bool | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> R:
    """
    Call ``send`` until it gives a non-transient outcome or the policy's bounds are reached.

    ``send`` must build the request anew on each call (so each attempt carries the current token).
    Returns the last response, even a transient failure once the bounds are reached; re-raises the last
    transport error as :class:`EndpointUnreachableError`. ``replayable`` defaults to "the method is
    idempotent or the policy allows replays".
    """
    replayable = _replayable(method, policy, replayable)
    started = time.monotonic()
    # Fast path: the first attempt runs outside tenacity, so a call that succeeds pays nothing for retries.
    first: R | BaseException
    try:
        first = send()
    except TRANSPORT_ERRORS as exc:
        first = exc
    if _final(first, policy, method, url, replayable, started):
        return _outcome(first)
    retrying = tenacity.Retrying(sleep=sleep, **_loop_settings(policy, method, url, replayable, started))
    try:
        return retrying(_replaying(first, send))
    except TRANSPORT_ERRORS as exc:
        attempts = int(retrying.statistics.get("attempt_number", 1))
        raise _unreachable(method, url, exc, attempts, started) from None


async def send_with_retry_async(
    send: Callable[[], Awaitable[R]],
    policy: RetryPolicy,
    *,
    method: str,
    url: str,
    replayable: bool | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> R:
    """:func:`send_with_retry` for a coroutine ``send`` (the trigger's httpx calls): the same policy,
    classification, waits and errors, with tenacity's ``AsyncRetrying`` and non-blocking sleeps."""
    replayable = _replayable(method, policy, replayable)
    started = time.monotonic()
    first: R | BaseException
    try:
        first = await send()
    except TRANSPORT_ERRORS as exc:
        first = exc
    if _final(first, policy, method, url, replayable, started):
        return _outcome(first)
    retrying = tenacity.AsyncRetrying(sleep=sleep, **_loop_settings(policy, method, url, replayable, started))
    pending = [first]

    async def attempt() -> R:
        if pending:
            return _outcome(pending.pop())
        return await send()

    try:
        return await retrying(attempt)
    except TRANSPORT_ERRORS as exc:
        attempts = int(retrying.statistics.get("attempt_number", 1))
        raise _unreachable(method, url, exc, attempts, started) from None


def _replayable(method: str, policy: RetryPolicy, replayable: bool | None) -> bool:
    if replayable is None:
        return method.upper() in IDEMPOTENT_METHODS or policy.retry_non_idempotent
    return replayable


def _final(
    first: HttpResponse | BaseException, policy: RetryPolicy, method: str, url: str, replayable: bool, started: float
) -> bool:
    """
    Whether the first attempt's outcome is final: a response not worth retrying (returned as it is), or a
    transport error not worth retrying (raised here as :class:`EndpointUnreachableError`).
    """
    if isinstance(first, BaseException):
        if policy.max_attempts == 1 or not is_transient_error(first, replayable=replayable):
            raise _unreachable(method, url, first, 1, started) from None
        return False
    return policy.max_attempts == 1 or not is_transient_response(first, replayable=replayable)


def _outcome(outcome: R | BaseException) -> R:
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _replaying(first: R | BaseException, send: Callable[[], R]) -> Callable[[], R]:
    """Attempt 1's outcome replayed to tenacity (so its wait honours Retry-After), then ``send``."""
    pending = [first]

    def attempt() -> R:
        if pending:
            return _outcome(pending.pop())
        return send()

    return attempt


def _loop_settings(policy: RetryPolicy, method: str, url: str, replayable: bool, started: float) -> dict[str, Any]:
    """Attempts 2..n of the policy as tenacity settings, shared by the sync and async senders."""
    safe_url = drop_query(url)

    def _log_retry(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        if outcome is None:
            return
        what = type(outcome.exception()).__name__ if outcome.failed else f"HTTP {outcome.result().status_code}"
        log.warning(
            "%s %s: attempt %d of %d failed (%s); retrying in %.1f s",
            method.upper(),
            safe_url,
            state.attempt_number,
            policy.max_attempts,
            what,
            state.upcoming_sleep,
        )

    def _give_up(state: tenacity.RetryCallState) -> Any:
        outcome = state.outcome
        assert outcome is not None
        return outcome.result()  # re-raises the last exception, if that ended the loop

    remaining = max(0.0, policy.max_elapsed - (time.monotonic() - started))
    return {
        "stop": tenacity.stop_after_attempt(policy.max_attempts) | tenacity.stop_before_delay(remaining),
        "wait": _Wait(policy),
        "retry": (
            tenacity.retry_if_exception(lambda exc: is_transient_error(exc, replayable=replayable))
            | tenacity.retry_if_result(lambda resp: is_transient_response(resp, replayable=replayable))
        ),
        "before_sleep": _log_retry,
        "retry_error_callback": _give_up,
        "reraise": True,
    }


def _unreachable(method: str, url: str, exc: BaseException, attempts: int, started: float) -> EndpointUnreachableError:
    reason = f"{type(exc).__name__}: {redact(str(exc), folded=False)}"
    elapsed = time.monotonic() - started
    chain = _chain(exc)
    cause, detail = describe_transport_error(exc, drop_query(url), chain)
    return EndpointUnreachableError(
        method.upper(),
        drop_query(url),
        reason,
        attempts,
        elapsed,
        never_sent=_never_sent(exc, chain),
        cause=cause,
        detail=detail,
    )


_REFUSED_TEXT = ("connection refused", "actively refused")
_NO_ROUTE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH})
_DNS_TEXT = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "getaddrinfo failed",
    "no address associated",
    "failed to resolve",
)


def describe_transport_error(
    exc: BaseException, url: str, chain: Sequence[BaseException] | None = None
) -> tuple[UnreachableCause, str | None]:
    """
    What a transport error of requests/urllib3 or httpx means, in plain words, without the libraries' text
    (``HTTPConnectionPool(host=..., port=...): Max retries exceeded ...``): a cause and a sentence naming
    the host and port, e.g. ``("refused", "the connection to auth.example.com:8443 was refused")``.
    ``chain`` is ``_chain(exc)`` when the caller has walked it already (it is walked here otherwise).
    """
    parts = urlsplit(url)
    host = parts.hostname or "the host"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 443 if parts.scheme == "https" else 80
    if chain is None:
        chain = _chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, (ConnectionRefusedError,)) for e in chain) or any(t in text for t in _REFUSED_TEXT):
        return "refused", f"the connection to {host}:{port} was refused (nothing listens on that port)"
    if any(isinstance(e, (socket.gaierror, NameResolutionError)) for e in chain) or any(t in text for t in _DNS_TEXT):
        return "dns", f"the host name {host!r} does not resolve"
    if any(isinstance(e, OSError) and e.errno in _NO_ROUTE for e in chain) or "unreachable" in text:
        return "refused", f"{host}:{port} cannot be reached from here (no route to the host)"
    if any(isinstance(e, (requests.exceptions.ConnectTimeout, httpx.ConnectTimeout)) for e in chain):
        return "timeout", f"no connection to {host}:{port} could be opened within the timeout"
    timeouts = (requests.exceptions.Timeout, httpx.TimeoutException, TimeoutError, socket.timeout, ReadTimeoutError)
    if any(isinstance(e, timeouts) for e in chain):
        return "timeout", f"{host}:{port} did not answer within the timeout"
    if any(isinstance(e, (ssl.SSLError, requests.exceptions.SSLError)) for e in chain):
        problem = next((getattr(e, "reason", None) for e in chain if isinstance(e, ssl.SSLError)), None)
        return "tls", f"the TLS handshake with {host}:{port} failed" + (f" ({problem})" if problem else "")
    closed = (
        ConnectionResetError,
        ConnectionAbortedError,
        BrokenPipeError,
        http.client.RemoteDisconnected,
        requests.exceptions.ChunkedEncodingError,
        httpx.RemoteProtocolError,
        httpx.ReadError,
        httpx.WriteError,
        ProtocolError,
    )
    if any(isinstance(e, closed) for e in chain):
        return "closed", f"{host}:{port} closed the connection before answering"
    return "other", None
