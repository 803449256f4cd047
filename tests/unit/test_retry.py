"""The retry policy: Retry-After, transient classification, the send loop, redaction."""

from __future__ import annotations

import asyncio
import logging
import random
import traceback
from collections.abc import Sequence
from datetime import datetime, timezone

import httpx
import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from airflow_oauth_connector.exceptions import EndpointUnreachableError
from airflow_oauth_connector.retry import (
    RetryPolicy,
    is_transient_error,
    is_transient_response,
    parse_retry_after,
    send_with_retry,
    send_with_retry_async,
)
from tests.support.builders import make_response

URL = "https://api.example.com/v1/items"
NOW = datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


class FakeSend:
    """Returns (or raises) the scripted outcomes in turn; the last one repeats."""

    def __init__(self, outcomes: Sequence[requests.Response | BaseException]) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> requests.Response:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def connection_refused(url: str = "/v1/items?access_token=SECRET") -> requests.ConnectionError:
    """What requests raises when the TCP connect is refused (urllib3 2.x shape)."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, url, reason))  # type: ignore[arg-type]


def ok(status: int = 200, **headers: str) -> requests.Response:
    return make_response(status, b"{}", headers={k.replace("_", "-"): v for k, v in headers.items()}, url=URL)


FAST = RetryPolicy(max_attempts=5, max_elapsed=60, backoff_initial=0.01, backoff_max=0.04)


def run(send: FakeSend, policy: RetryPolicy = FAST, *, method: str = "GET", **kwargs: object):
    sleeps = Sleeps()
    result = send_with_retry(send, policy, method=method, url=URL, sleep=sleeps, **kwargs)  # type: ignore[arg-type]
    return result, sleeps


# --- parse_retry_after --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), (" 5 ", 5.0), ("0", 0.0), ("1.5", 1.5), ("-3", 0.0)])
def test_retry_after_seconds(value, seconds):
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("Mon, 01 Jan 2024 12:00:30 GMT", 30.0),
        ("Mon, 01 Jan 2024 12:02:00 GMT", 120.0),
        ("Mon, 01 Jan 2024 13:00:00 +0100", 0.0),
        ("Mon, 01 Jan 2024 11:59:00 GMT", 0.0),
        ("Monday, 01-Jan-24 12:00:10 GMT", 10.0),
        ("Mon, 01 Jan 2024 12:00:45 -0000", 45.0),
    ],
)
def test_retry_after_http_date(value, seconds):
    assert parse_retry_after(value, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [None, "", "soon", "Mon, 99 Foo 2024", "12 monkeys", "   "])
def test_retry_after_invalid(value):
    assert parse_retry_after(value, now=NOW) is None


# --- transient classification -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("replayable", [True, False])
def test_not_processed_statuses_always_transient(status, replayable):
    assert is_transient_response(ok(status), replayable=replayable) is True


@pytest.mark.parametrize("status", [408, 500, 502, 504])
def test_server_errors_transient_only_when_replayable(status):
    assert is_transient_response(ok(status), replayable=True) is True
    assert is_transient_response(ok(status), replayable=False) is False


@pytest.mark.parametrize("status", [200, 201, 204, 301, 400, 401, 403, 404, 409, 422, 501])
@pytest.mark.parametrize("replayable", [True, False])
def test_other_statuses_never_transient(status, replayable):
    assert is_transient_response(ok(status), replayable=replayable) is False


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ConnectTimeout("connect timed out"),
        connection_refused(),
        NewConnectionError(None, "refused"),  # type: ignore[arg-type]
    ],
    ids=["connect-timeout", "connection-refused", "bare-new-connection-error"],
)
@pytest.mark.parametrize("replayable", [True, False])
def test_never_sent_errors_always_transient(exc, replayable):
    assert is_transient_error(exc, replayable=replayable) is True


def test_new_connection_error_found_through_cause_chain():
    outer = requests.ConnectionError("wrapped")
    outer.__cause__ = NewConnectionError(None, "refused")  # type: ignore[arg-type]
    assert is_transient_error(outer, replayable=False) is True


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))),
        requests.exceptions.ChunkedEncodingError("truncated"),
    ],
    ids=["read-timeout", "connection-reset", "chunked"],
)
def test_maybe_processed_errors_transient_only_when_replayable(exc):
    assert is_transient_error(exc, replayable=True) is True
    assert is_transient_error(exc, replayable=False) is False


@pytest.mark.parametrize(
    "exc",
    [requests.exceptions.InvalidURL("bad"), requests.exceptions.SSLError("cert"), ValueError("x")],
    ids=["invalid-url", "ssl", "value-error"],
)
def test_other_errors(exc):
    # SSLError is a ConnectionError subclass: a replay is allowed, but never for a non-replayable request.
    assert is_transient_error(exc, replayable=False) is False
    if not isinstance(exc, requests.exceptions.SSLError):
        assert is_transient_error(exc, replayable=True) is False


def test_new_connection_error_found_through_reason_and_context():
    """The walk of :func:`describe_transport_error` (args[0], urllib3's reason, causes and contexts)."""
    from urllib3.exceptions import MaxRetryError

    wrapped = requests.ConnectionError(MaxRetryError(None, "/token", NewConnectionError(None, "refused")))  # type: ignore[arg-type]
    assert is_transient_error(wrapped, replayable=False) is True
    raised = requests.ConnectionError("while connecting")
    raised.__context__ = NewConnectionError(None, "refused")  # type: ignore[arg-type]
    assert is_transient_error(raised, replayable=False) is True


def test_self_referencing_exception_chain_terminates():
    exc = requests.ConnectionError("loop")
    exc.__cause__ = exc
    assert is_transient_error(exc, replayable=False) is False


# --- send_with_retry ----------------------------------------------------------------------------------------


def test_success_first_time_no_sleep():
    send = FakeSend([ok(200)])
    response, sleeps = run(send)
    assert response.status_code == 200
    assert send.calls == 1
    assert sleeps == []


def test_retries_503_burst_then_succeeds():
    send = FakeSend([ok(503), ok(503), ok(503), ok(200)])
    response, sleeps = run(send)
    assert response.status_code == 200
    assert send.calls == 4
    assert len(sleeps) == 3


def test_honours_retry_after_seconds():
    send = FakeSend([ok(429, Retry_After="7"), ok(503, Retry_After="2"), ok(200)])
    response, sleeps = run(send, method="POST")
    assert response.status_code == 200
    assert sleeps == [7.0, 2.0]


def test_honours_retry_after_above_backoff_max():
    send = FakeSend([ok(503, Retry_After="45"), ok(200)])
    _, sleeps = run(send, RetryPolicy(max_elapsed=100, backoff_max=1))
    assert sleeps == [45.0]


def test_stops_at_max_attempts_and_returns_last_response():
    responses = [ok(503, X_N=str(i)) for i in range(10)]
    send = FakeSend(responses)
    response, sleeps = run(send, FAST.replace(max_attempts=3))
    assert send.calls == 3
    assert len(sleeps) == 2
    assert response is responses[2]
    assert response.status_code == 503


def test_max_attempts_one_disables_retries():
    send = FakeSend([ok(503), ok(200)])
    response, sleeps = run(send, FAST.replace(max_attempts=1))
    assert response.status_code == 503
    assert send.calls == 1
    assert sleeps == []


def test_retry_after_beyond_budget_stops_without_sleeping():
    send = FakeSend([ok(503, Retry_After="600"), ok(200)])
    response, sleeps = run(send, RetryPolicy(max_attempts=5, max_elapsed=30))
    assert response.status_code == 503
    assert send.calls == 1
    assert sleeps == []


def test_non_transient_response_returned_at_once():
    send = FakeSend([ok(404), ok(200)])
    response, sleeps = run(send)
    assert response.status_code == 404
    assert send.calls == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [500, 502, 504, 408])
def test_post_5xx_not_replayed_by_default(status):
    send = FakeSend([ok(status), ok(200)])
    response, _ = run(send, method="POST")
    assert response.status_code == status
    assert send.calls == 1
    response, _ = run(FakeSend([ok(status), ok(200)]), method="GET")
    assert response.status_code == 200


def test_post_not_replayed_after_read_timeout():
    send = FakeSend([requests.exceptions.ReadTimeout("read timed out"), ok(200)])
    with pytest.raises(EndpointUnreachableError) as info:
        run(send, method="post")
    assert send.calls == 1
    assert info.value.attempts == 1
    assert info.value.method == "POST"
    assert "ReadTimeout" in info.value.reason


def test_post_replayed_after_read_timeout_when_replayable():
    send = FakeSend([requests.exceptions.ReadTimeout("read timed out"), ok(200)])
    response, sleeps = run(send, method="POST", replayable=True)
    assert response.status_code == 200
    assert send.calls == 2
    assert len(sleeps) == 1


def test_post_replayed_after_read_timeout_with_retry_non_idempotent():
    send = FakeSend([requests.exceptions.ReadTimeout("read timed out"), ok(500), ok(200)])
    response, _ = run(send, FAST.replace(retry_non_idempotent=True), method="PATCH")
    assert response.status_code == 200
    assert send.calls == 3


def test_replayable_false_overrides_idempotent_method():
    send = FakeSend([requests.exceptions.ReadTimeout("t"), ok(200)])
    with pytest.raises(EndpointUnreachableError):
        run(send, method="GET", replayable=False)
    assert send.calls == 1


def test_post_retried_after_connect_failure():
    send = FakeSend([requests.exceptions.ConnectTimeout("t"), connection_refused(), ok(201)])
    response, _ = run(send, method="POST")
    assert response.status_code == 201
    assert send.calls == 3


def test_unreachable_after_all_attempts_redacts_secret():
    original = connection_refused()
    assert "?access_token=SECRET" in str(original)  # the precondition that makes this test meaningful
    send = FakeSend([original])
    url = "https://api.example.com/v1/items?access_token=SECRET#frag"
    sleeps = Sleeps()
    with pytest.raises(EndpointUnreachableError) as info:
        send_with_retry(send, FAST.replace(max_attempts=3), method="get", url=url, sleep=sleeps)
    exc = info.value
    assert send.calls == 3
    assert exc.attempts == 3
    assert len(sleeps) == 2
    assert exc.url == "https://api.example.com/v1/items"
    assert exc.method == "GET"
    assert exc.reason.startswith("ConnectionError: ")
    assert "?..." in exc.reason
    assert "failed after 3 attempts" in str(exc)
    rendered = "".join(traceback.format_exception(exc))
    assert "SECRET" not in rendered
    assert "SECRET" not in str(exc)
    assert exc.__cause__ is None
    assert exc.__suppress_context__ is True


def test_unreachable_single_attempt_wording():
    send = FakeSend([requests.exceptions.ConnectTimeout("t")])
    with pytest.raises(EndpointUnreachableError, match="after 1 attempt in"):
        run(send, FAST.replace(max_attempts=1))


def test_retry_logs_carry_no_query_string(caplog):
    send = FakeSend([connection_refused(), ok(503), ok(200)])
    with caplog.at_level(logging.WARNING, logger="airflow_oauth_connector.retry"):
        send_with_retry(send, FAST, method="GET", url=URL + "?access_token=SECRET", sleep=Sleeps())
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "attempt 1 of 5 failed (ConnectionError)" in messages[0]
    assert "attempt 2 of 5 failed (HTTP 503)" in messages[1]
    assert all("SECRET" not in message for message in messages)


def test_non_request_exceptions_propagate_unwrapped():
    send = FakeSend([ValueError("boom"), ok(200)])
    with pytest.raises(ValueError, match="boom"):
        run(send)
    assert send.calls == 1


def test_backoff_waits_grow_and_stay_under_max(monkeypatch):
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # jitter at its ceiling
    policy = RetryPolicy(max_attempts=8, max_elapsed=1000, backoff_initial=0.5, backoff_max=2.0)
    _, sleeps = run(FakeSend([ok(503)]), policy)
    assert sleeps == [0.5, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0]


def test_backoff_with_jitter_is_bounded():
    policy = RetryPolicy(max_attempts=30, max_elapsed=10_000, backoff_initial=0.5, backoff_max=3.0)
    _, sleeps = run(FakeSend([ok(503)]), policy)
    assert len(sleeps) == 29
    assert all(0.25 <= wait <= 3.0 for wait in sleeps)


def test_backoff_floor_never_exceeds_backoff_max():
    policy = RetryPolicy(max_attempts=4, max_elapsed=1000, backoff_initial=4.0, backoff_max=1.0)
    _, sleeps = run(FakeSend([ok(503)]), policy)
    assert all(wait <= 1.0 for wait in sleeps)


# --- RetryPolicy --------------------------------------------------------------------------------------------


def test_policy_defaults():
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.max_elapsed, policy.backoff_initial, policy.backoff_max) == (
        5,
        120.0,
        0.5,
        30.0,
    )
    assert policy.retry_non_idempotent is False


def test_policy_replace_ignores_none():
    policy = RetryPolicy(max_attempts=3, max_elapsed=10)
    changed = policy.replace(max_attempts=None, max_elapsed=20, retry_non_idempotent=None)
    assert changed == RetryPolicy(max_attempts=3, max_elapsed=20)
    assert policy.max_elapsed == 10
    assert policy.replace() == policy
    assert policy.replace(retry_non_idempotent=False, max_attempts=1) == RetryPolicy(max_attempts=1, max_elapsed=10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": -1},
        {"max_elapsed": 0},
        {"max_elapsed": -5},
        {"backoff_initial": -0.1},
        {"backoff_max": -1},
    ],
)
def test_policy_rejects_invalid_values(kwargs):
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)
    with pytest.raises(ValueError, match="must"):
        RetryPolicy().replace(**kwargs)


# -- the async sender (the trigger's httpx calls) follows the same policy --------------------------------------


def _httpx_response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", URL))


def _run_async(send: FakeSend, policy: RetryPolicy, method: str = "GET", **kwargs) -> tuple[object, list[float]]:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def asend():
        return send()

    result = asyncio.run(
        asyncio.wait_for(send_with_retry_async(asend, policy, method=method, url=URL, sleep=sleep, **kwargs), 10)
    )
    return result, sleeps


@pytest.mark.parametrize(
    ("outcomes", "method", "calls"),
    [
        ([503, 503, 200], "GET", 3),
        ([429, 200], "POST", 2),  # not processed: retried for any method
        ([500, 200], "POST", 1),  # may have been processed: a POST is not replayed
        ([404], "GET", 1),
        ([503] * 9, "GET", 4),  # bounded by max_attempts
    ],
)
def test_async_sender_makes_the_same_decisions_as_the_sync_one(outcomes, method, calls):
    policy = RetryPolicy(max_attempts=4, backoff_initial=0.0)
    sync = FakeSend([ok(s) for s in outcomes])
    sync_sleeps = Sleeps()
    sync_result = send_with_retry(sync, policy, method=method, url=URL, sleep=sync_sleeps)
    async_send = FakeSend([_httpx_response(s) for s in outcomes])
    async_result, async_sleeps = _run_async(async_send, policy, method)
    assert sync.calls == async_send.calls == calls
    assert async_result.status_code == sync_result.status_code
    assert len(async_sleeps) == len(sync_sleeps)


def test_async_sender_honours_retry_after():
    send = FakeSend([_httpx_response(503, **{"Retry-After": "7"}), _httpx_response(200)])
    result, sleeps = _run_async(send, RetryPolicy())
    assert result.status_code == 200
    assert sleeps == [7.0]


def test_async_sender_retries_httpx_connect_errors_and_wraps_the_last_one():
    request = httpx.Request("GET", URL + "?access_token=SECRET")
    send = FakeSend([httpx.ConnectError("connection refused to ?access_token=SECRET", request=request)])
    with pytest.raises(EndpointUnreachableError) as raised:
        _run_async(send, RetryPolicy(max_attempts=3, backoff_initial=0.0), "POST")
    assert send.calls == 3  # never sent: safe to retry even a POST
    assert raised.value.attempts == 3
    assert "SECRET" not in str(raised.value)


def test_async_sender_does_not_replay_a_post_after_a_read_timeout():
    send = FakeSend([httpx.ReadTimeout("read timed out"), _httpx_response(200)])
    with pytest.raises(EndpointUnreachableError):
        _run_async(send, RetryPolicy(backoff_initial=0.0), "POST")
    assert send.calls == 1
    send = FakeSend([httpx.ReadTimeout("read timed out"), _httpx_response(200)])
    result, _ = _run_async(send, RetryPolicy(backoff_initial=0.0), "GET")
    assert result.status_code == 200
    assert send.calls == 2


# -- what an unreachable endpoint means, in plain words (issue 11, point 6) ------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


RAW_LIBRARY_TEXT = ("HTTPConnectionPool", "Max retries exceeded", "NewConnectionError", "urllib3", "httpcore", "Errno")


@pytest.mark.parametrize("library", ["requests", "httpx"])
def test_a_refused_connection_is_said_plainly_with_the_url_hint(library: str) -> None:
    url = f"http://127.0.0.1:{_free_port()}/token"
    send = (lambda: requests.post(url, timeout=5)) if library == "requests" else (lambda: httpx.post(url, timeout=5))
    with pytest.raises(EndpointUnreachableError) as info:
        send_with_retry(send, FAST.replace(max_attempts=1), method="POST", url=url)  # type: ignore[arg-type]
    exc = info.value
    port = url.split(":")[2].split("/")[0]
    assert exc.cause == "refused"
    assert str(exc) == (
        f"POST {url} failed after 1 attempt in {exc.elapsed:.1f} s: the connection to 127.0.0.1:{port} was refused "
        f"(nothing listens on that port). Check the URL and that the server is reachable from the worker"
    )
    assert not any(raw in str(exc) for raw in RAW_LIBRARY_TEXT)
    assert "retry limits" not in str(exc)


def test_a_name_that_does_not_resolve_is_said_plainly() -> None:
    url = "http://no-such-host.invalid/token"  # .invalid never resolves (RFC 2606)
    with pytest.raises(EndpointUnreachableError) as info:
        send_with_retry(lambda: requests.post(url, timeout=5), FAST.replace(max_attempts=1), method="POST", url=url)
    assert info.value.cause == "dns"
    assert "the host name 'no-such-host.invalid' does not resolve. Check the URL and" in str(info.value)
    assert not any(raw in str(info.value) for raw in RAW_LIBRARY_TEXT)


@pytest.mark.parametrize(
    ("error", "cause", "detail"),
    [
        (requests.exceptions.ConnectTimeout("x"), "timeout", "no connection to a.example:443 could be opened within"),
        (requests.exceptions.ReadTimeout("x"), "timeout", "a.example:443 did not answer within the timeout"),
        (httpx.ReadTimeout("x"), "timeout", "a.example:443 did not answer within the timeout"),
        (requests.exceptions.SSLError("x"), "tls", "the TLS handshake with a.example:443 failed"),
        (requests.exceptions.ChunkedEncodingError("x"), "closed", "a.example:443 closed the connection"),
        (httpx.RemoteProtocolError("x"), "closed", "a.example:443 closed the connection"),
    ],
)
def test_transport_errors_are_classified(error: BaseException, cause: str, detail: str) -> None:
    url = "https://a.example/token"
    with pytest.raises(EndpointUnreachableError) as info:
        send_with_retry(FakeSend([error]), FAST.replace(max_attempts=1), method="POST", url=url)
    assert info.value.cause == cause
    assert detail in str(info.value)
    retry_hint = "raise the connection's timeout or retry limits" in str(info.value)
    assert retry_hint is (cause in ("timeout", "closed"))


def test_an_unknown_transport_error_keeps_its_text() -> None:
    with pytest.raises(EndpointUnreachableError) as info:
        send_with_retry(
            FakeSend([requests.exceptions.InvalidURL("bad url")]), FAST, method="GET", url=URL + "?access_token=S"
        )
    assert info.value.cause == "other"
    assert "InvalidURL: bad url" in str(info.value)
    assert "access_token=S" not in str(info.value)


def test_an_unreachable_error_walks_the_exception_chain_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its cause, detail and never-sent come from one walk of the chain (retry._chain is the one walker)."""
    from airflow_oauth_connector import retry

    walked: list[BaseException] = []
    walk = retry._chain

    def counting(exc: BaseException) -> list[BaseException]:
        walked.append(exc)
        return walk(exc)

    monkeypatch.setattr(retry, "_chain", counting)
    error = connection_refused()
    unreachable = retry._unreachable("post", "https://a.example/token", error, 1, 0.0)
    assert walked == [error]
    assert (unreachable.cause, unreachable.never_sent) == ("refused", True)
    assert "the connection to a.example:443 was refused" in str(unreachable)
