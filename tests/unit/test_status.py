"""Typed status records: JSON round trips, tolerant reading of earlier records, redacted failures."""

from __future__ import annotations

import json

from airflow_oauth_connector.exceptions import InvalidGrantError
from airflow_oauth_connector.status import (
    AuthState,
    CallMarker,
    Failure,
    RefreshInFlight,
    TokenStatus,
    Where,
    as_token_status,
    status_from_dict,
    task_where,
)
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
    assert len(Failure.of(ValueError("x" * 1000), at=1.0, where="cli").message) <= 303


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
