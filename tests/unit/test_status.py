"""Typed status records: JSON round trips, tolerant reading of earlier records, redacted failures."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator

import pytest

from airflow_oauth_connector.exceptions import (
    ConnectionSettingsError,
    EndpointUnreachableError,
    IdTokenError,
    InvalidClientError,
    InvalidGrantError,
    TokenResponseError,
    TokenStoreError,
)
from airflow_oauth_connector.status import (
    AuthState,
    CallMarker,
    Failure,
    RefreshInFlight,
    StatusRecord,
    TokenStatus,
    Where,
    as_token_status,
    current_where,
    failure_kind,
    format_duration,
    recording_where,
    settings_key,
    status_from_dict,
    task_where,
    update_status,
)
from airflow_oauth_connector.store import MemoryTokenStore, TokenStore
from airflow_oauth_connector.store.codec import TokenCodec

SECRET = "refresh-SECRET-123"


def test_token_status_round_trips_as_json() -> None:
    status = TokenStatus(
        state=AuthState.AUTHORIZED,
        failure=Failure(kind="invalid_client", message="bad client", at=5.0, where=task_where("d", "t", 2)),
        last_success=3.0,
        last_refresh=4.0,
        in_flight=RefreshInFlight(started_at=6.0, holder="host:1", chain="abc"),
    )
    data = json.loads(json.dumps(status.to_dict()))
    assert data["failure"]["where"] == "d/t/try 2"
    assert status_from_dict(data) == status


def test_call_marker_round_trips() -> None:
    marker = CallMarker("done", 2.0, 201)
    assert status_from_dict(json.loads(json.dumps(marker.to_dict()))) == marker


def test_legacy_records_are_read() -> None:
    legacy = status_from_dict({"state": "needs_reauthorization", "error": "invalid_grant", "at": 7.0})
    assert legacy == TokenStatus(
        state=AuthState.NEEDS_REAUTHORIZATION, failure=Failure(kind="invalid_grant", message="", at=7.0)
    )
    assert status_from_dict({"state": "not_authorized", "error": None, "at": 1.0}) == TokenStatus(
        state=AuthState.NOT_AUTHORIZED
    )
    assert status_from_dict({"state": "sent", "at": 1.0}) == CallMarker("sent", 1.0)
    assert status_from_dict({"state": "done", "status": 204}) == CallMarker("done", 0.0, 204)
    assert status_from_dict({"state": "something else"}) == TokenStatus()


def test_codec_reads_legacy_and_typed_records() -> None:
    codec = TokenCodec(None)
    legacy = codec.encode_record({"v": 1, "key": "k", "status": {"state": "needs_reauthorization"}})
    assert codec.decode_status("k", legacy, what="t") == TokenStatus(state=AuthState.NEEDS_REAUTHORIZATION)
    typed = codec.encode_status("k", CallMarker("sent", 1.0))
    assert b"call_marker" in typed
    assert codec.decode_status("k", typed, what="t") == CallMarker("sent", 1.0)
    assert codec.decode_status("other", typed, what="t") is None


def test_failure_of_an_error_is_redacted() -> None:
    error = InvalidGrantError("invalid_grant", f"refresh token {SECRET} was revoked; see https://h/x?token={SECRET}")
    failure = Failure.of(error, at=1.0, where=Where.TEST.value, secrets=(SECRET,))
    assert failure.kind == "invalid_grant"
    assert SECRET not in failure.message
    assert "?..." in failure.message
    assert failure.where == "test"
    assert Failure.of(ValueError("x" * 1000), at=1.0, where="cli").kind == "ValueError"
    assert len(Failure.of(ValueError("x" * 1000), at=1.0, where="cli").message) <= 503


def test_transitions() -> None:
    failure = Failure(kind="invalid_grant", message="", at=1.0)
    failed = (
        TokenStatus().refreshing(RefreshInFlight.now(1.0, "chain")).failed(failure, AuthState.NEEDS_REAUTHORIZATION)
    )
    assert failed.needs_reauthorization
    assert failed.in_flight is None
    ok = failed.succeeded(2.0)
    assert ok == TokenStatus(state=None, failure=None, last_success=2.0, last_refresh=2.0)
    assert ok.succeeded(3.0, refreshed=False, state=AuthState.AUTHORIZED).last_refresh == 2.0
    assert as_token_status(CallMarker("sent", 1.0)) == TokenStatus()
    assert as_token_status(None) == TokenStatus()


TASK_ENV = ("AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_TASK_ID", "AIRFLOW_CTX_TRY_NUMBER")


@pytest.fixture
def outside_a_task(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in TASK_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_where_outside_any_context_is_the_worker(outside_a_task: pytest.MonkeyPatch) -> None:
    assert current_where() == "worker"


def test_where_in_a_task_is_read_from_the_task_runners_context_variables(outside_a_task: pytest.MonkeyPatch) -> None:
    outside_a_task.setenv("AIRFLOW_CTX_DAG_ID", "sync_crm")
    outside_a_task.setenv("AIRFLOW_CTX_TASK_ID", "pull")
    outside_a_task.setenv("AIRFLOW_CTX_TRY_NUMBER", "3")
    assert current_where() == "sync_crm/pull/try 3"
    with recording_where(Where.TEST):  # a test run inside a task is still a test
        assert current_where() == "test"
    assert current_where() == "sync_crm/pull/try 3"


def test_recording_where_nests_and_resets(outside_a_task: pytest.MonkeyPatch) -> None:
    with recording_where(Where.CLI):
        with recording_where("page"):
            assert current_where() == "page"
        assert current_where() == "cli"
    assert current_where() == "worker"


def test_failure_kinds() -> None:
    assert failure_kind(InvalidClientError("invalid_client")) == "invalid_client"
    refused = EndpointUnreachableError("POST", "https://a/t", "ConnectionError: x", 1, 0.1, cause="refused")
    assert failure_kind(refused) == "unreachable"
    slow = EndpointUnreachableError("POST", "https://a/t", "ReadTimeout: x", 5, 60.0, cause="timeout")
    assert failure_kind(slow) == "timeout"
    assert failure_kind(TokenResponseError("Token endpoint answered HTTP 200 with an HTML page")) == "bad_response"
    assert failure_kind(IdTokenError("nonce", "is missing")) == "id_token_mismatch"
    assert failure_kind(ValueError("x")) == "ValueError"
    refused = ConnectionSettingsError("crm", [{"field": "access_url", "label": "Access token URL", "message": "bad"}])
    assert failure_kind(refused) == "invalid_settings"


def test_a_settings_key_is_no_profiles_cache_key() -> None:
    from tests.support.builders import make_profile

    profile = make_profile()
    assert settings_key(profile.conn_id) == f"{profile.conn_id}:settings"
    assert settings_key(profile.conn_id) != profile.cache_key
    assert set(profile.cache_key.rsplit(":", 1)[1]) <= set("0123456789abcdef")  # a cache key ends in hex


def test_a_failure_keeps_the_last_success_and_a_success_clears_the_failure() -> None:
    ok = TokenStatus().succeeded(10.0)
    failure = Failure(kind="invalid_client", message="m", at=20.0, where="test")
    failed = ok.failed(failure)
    assert failed == TokenStatus(failure=failure, last_success=10.0, last_refresh=10.0)
    assert failed.last_event_failed
    assert not ok.last_event_failed
    assert failed.succeeded(30.0) == TokenStatus(last_success=30.0, last_refresh=30.0)
    assert TokenStatus(state=AuthState.NOT_AUTHORIZED).succeeded(1.0).state is None
    assert TokenStatus(state=AuthState.AUTHORIZED).succeeded(1.0).state is AuthState.AUTHORIZED


def test_the_in_flight_record_keeps_the_last_failure_and_success() -> None:
    failure = Failure(kind="unreachable", message="m", at=20.0, where="d/t/try 1")
    before = TokenStatus(failure=failure, last_success=10.0, last_refresh=10.0)
    in_flight = RefreshInFlight(started_at=30.0, holder="h:1", chain="c")
    refreshing = before.refreshing(in_flight)
    assert refreshing == TokenStatus(
        failure=failure, last_success=10.0, last_refresh=10.0, in_flight=in_flight, chain="c"
    )
    assert refreshing.failed(failure, keep_in_flight=True).in_flight == in_flight
    assert refreshing.failed(failure).in_flight is None


def test_the_in_flight_record_drops_a_state_about_another_grant() -> None:
    dead = TokenStatus(state=AuthState.NEEDS_REAUTHORIZATION, chain="old")
    refreshing = dead.refreshing(RefreshInFlight(started_at=1.0, holder="h:1", chain="new"))
    assert refreshing.state is None
    assert refreshing.chain == "new"
    not_yet = TokenStatus(state=AuthState.NOT_AUTHORIZED, chain="c")
    assert not_yet.refreshing(RefreshInFlight(started_at=1.0, holder="h:1", chain="c")).state is None


# -- update_status: the one way an outcome is recorded (load, change, save; a failing store is logged) ---------


class _CountingStore(MemoryTokenStore):
    """A memory store that counts status reads and writes, and can be told to fail them."""

    def __init__(self, failing: str | None = None) -> None:
        super().__init__()
        self.reads = self.writes = 0
        self.failing = failing

    def load_status(self, key: str) -> StatusRecord | None:
        self.reads += 1
        if self.failing == "load":
            raise TokenStoreError(f"reading the status failed near {SECRET}")
        return super().load_status(key)

    def save_status(self, key: str, status: StatusRecord) -> None:
        self.writes += 1
        if self.failing == "save":
            raise TokenStoreError(f"saving the status failed near {SECRET}")
        super().save_status(key, status)


FAILURE = Failure(kind="invalid_client", message="bad client", at=20.0, where="test")


def test_update_status_applies_the_change_to_the_stored_record() -> None:
    store = _CountingStore()
    store.save_status("k", TokenStatus().succeeded(10.0))
    saved = update_status(store, "k", lambda status: status.failed(FAILURE), conn_id="c", what="the outcome")
    assert saved == TokenStatus(failure=FAILURE, last_success=10.0, last_refresh=10.0)
    assert store.load_status("k") == saved
    assert (store.reads, store.writes) == (2, 2)  # the update's read and write, then this test's read


def test_update_status_saves_a_given_record_without_reading() -> None:
    store = _CountingStore()
    record = TokenStatus().succeeded(5.0)
    assert update_status(store, "k", record, conn_id="c", what="the outcome") == record
    assert (store.reads, store.writes) == (0, 1)


def test_update_status_on_an_empty_slot_or_a_call_marker_starts_from_an_empty_record() -> None:
    store = _CountingStore()
    store.save_status("marker", CallMarker(state="sent", at=1.0))
    for key in ("empty", "marker"):
        saved = update_status(store, key, lambda status: status.failed(FAILURE), conn_id="c", what="x")
        assert saved == TokenStatus(failure=FAILURE)


@pytest.mark.parametrize("failing", ["load", "save", "lock", "lookup"])
def test_a_failing_store_is_logged_by_class_and_never_raised(failing: str, caplog: pytest.LogCaptureFixture) -> None:
    store = _CountingStore(failing)

    def lookup() -> TokenStore:
        if failing == "lookup":
            raise TokenStoreError(f"no store configured near {SECRET}")
        return store

    if failing == "lock":
        store.lock = lambda key: _failing_lock()  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="airflow_oauth_connector.status"):
        saved = update_status(lookup, "k", lambda s: s.failed(FAILURE), conn_id="crm", what="the outcome", lock=True)
    assert saved is None
    assert "Connection 'crm': could not record the outcome in the token store (TokenStoreError)" in caplog.text
    assert SECRET not in caplog.text
    assert store.writes == (1 if failing == "save" else 0)  # nothing saved after a failed lookup, lock or read


@contextlib.contextmanager
def _failing_lock() -> Iterator[None]:
    raise TokenStoreError(f"the lock timed out near {SECRET}")
    yield  # pragma: no cover


def test_update_status_with_lock_reads_and_saves_under_the_keys_lock() -> None:
    seen: list[tuple[str, bool]] = []

    class Watched(MemoryTokenStore):
        locked = False

        @contextlib.contextmanager
        def lock(self, key: str) -> Iterator[None]:
            with super().lock(key):
                self.locked = True
                yield
                self.locked = False

        def load_status(self, key: str) -> StatusRecord | None:
            seen.append(("load", self.locked))
            return super().load_status(key)

        def save_status(self, key: str, status: StatusRecord) -> None:
            seen.append(("save", self.locked))
            super().save_status(key, status)

    store = Watched()
    update_status(store, "k", lambda status: status.failed(FAILURE), conn_id="c", what="x", lock=True)
    update_status(store, "k", lambda status: status.succeeded(30.0), conn_id="c", what="x")  # the caller's lock
    assert seen == [("load", True), ("save", True), ("load", False), ("save", False)]
    assert store.load_status("k") == TokenStatus(last_success=30.0, last_refresh=30.0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (12 * 86400 + 7200, "12 days"),
        (86400, "1 day"),
        (5 * 3600 + 59, "5 hours"),
        (3600, "1 hour"),
        (20 * 60 + 30, "20 minutes"),
        (60, "1 minute"),
        (59, "less than a minute"),
    ],
)
def test_format_duration_says_the_largest_whole_unit(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
