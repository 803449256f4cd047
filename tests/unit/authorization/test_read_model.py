"""The status read model: "not tested yet", "ready" only after a success, the last failure with kind, time, where."""

from __future__ import annotations

import json

from airflow_oauth_connector.authorization.read_model import FailureInfo, ProfileStatus, profile_status
from airflow_oauth_connector.status import AuthState, Failure, TokenStatus
from airflow_oauth_connector.store.memory import MemoryTokenStore
from airflow_oauth_connector.token import refresh_origin
from tests.support.builders import AUTHORIZE_URL, CLIENT_SECRET, make_profile, make_token

AT = 1_795_915_380.0  # 2026-11-29 01:23 UTC
REFRESH = "refresh-SENTINEL-5555"


def _failure(kind: str = "invalid_client", where: str = "sync/pull/try 1", message: str = "bad client") -> Failure:
    return Failure(kind=kind, message=message, at=AT, where=where)


def test_a_machine_grant_with_nothing_recorded_is_not_tested_yet() -> None:
    status = profile_status(make_profile(), MemoryTokenStore())
    assert status.state == "not_tested"
    assert status.describe() == "not tested yet: no token requested so far (press Test, or run a task)"
    assert (status.last_failure, status.last_success) == (None, None)


def test_a_failed_test_shows_its_kind_time_place_and_message() -> None:
    profile = make_profile()
    store = MemoryTokenStore()
    store.save_status(profile.cache_key, TokenStatus(failure=_failure(where="test", message=f"no {CLIENT_SECRET}")))
    status = profile_status(profile, store)
    assert status.state == "failing"
    assert status.last_failure == FailureInfo(kind="invalid_client", message="no ***", at=AT, where="test")
    assert status.describe() == "last failure: invalid_client at 2026-11-29 01:23 UTC in test: no ***"
    assert CLIENT_SECRET not in json.dumps(status.to_dict())


def test_a_failure_after_a_success_is_failing_and_keeps_the_success_time() -> None:
    profile = make_profile()
    store = MemoryTokenStore()
    store.save_status(profile.cache_key, TokenStatus(last_success=AT - 60, last_refresh=AT - 60).failed(_failure()))
    store.save(profile.cache_key, make_token(refresh=None, now=AT - 60, lifetime=7200))
    status = profile_status(profile, store)
    assert status.state == "failing"
    assert status.last_success == AT - 60
    assert status.describe(now=AT) == (
        "last failure: invalid_client at 2026-11-29 01:23 UTC in sync/pull/try 1: bad client "
        "(a cached token is still valid until 2026-11-29 03:22 UTC)"
    )


def test_ready_only_after_a_success() -> None:
    profile = make_profile()
    store = MemoryTokenStore()
    store.save_status(profile.cache_key, TokenStatus().failed(_failure()).succeeded(AT))
    status = profile_status(profile, store)
    assert status.state == "ready"
    assert status.last_success == AT
    assert status.last_refresh == AT
    assert status.last_failure is None
    assert status.describe() == "ready; token obtained at 2026-11-29 01:23 UTC, no expiry given"


def test_an_authorized_connection_whose_refresh_failed_is_failing() -> None:
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, refresh_token=REFRESH)
    store = MemoryTokenStore()
    store.save_status(profile.cache_key, TokenStatus(failure=_failure(kind="unreachable", message="down")))
    status = profile_status(profile, store)
    assert status.state == "failing"
    assert status.describe().startswith("last failure: unreachable at 2026-11-29 01:23 UTC in sync/pull/try 1: down")


def test_a_rejected_grant_needs_reauthorization_and_names_the_task() -> None:
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, refresh_token=REFRESH)
    store = MemoryTokenStore()
    record = TokenStatus(
        state=AuthState.NEEDS_REAUTHORIZATION,
        failure=_failure(kind="invalid_grant", message="revoked"),
        chain=refresh_origin(REFRESH),
    )
    store.save_status(profile.cache_key, record)
    status = profile_status(profile, store)
    assert status.state == "needs_reauthorization"
    assert status.describe() == (
        "needs re-authorization: invalid_grant at 2026-11-29 01:23 UTC in sync/pull/try 1: revoked"
    )


def test_to_dict_is_json_ready_for_the_native_page() -> None:
    profile = make_profile()
    store = MemoryTokenStore()
    store.save_status(profile.cache_key, TokenStatus(last_success=AT - 1).failed(_failure(where="test")))
    data = json.loads(json.dumps(profile_status(profile, store).to_dict()))
    assert data["state"] == "failing"
    assert data["last_failure"] == {"kind": "invalid_client", "message": "bad client", "at": AT, "where": "test"}
    assert data["last_success"] == AT - 1
    assert data["description"].startswith("last failure: invalid_client")
    assert set(data) == {
        "conn_id",
        "grant_type",
        "state",
        "expires_at",
        "scope",
        "last_refresh",
        "last_error",
        "refresh_token_present",
        "last_failure",
        "last_success",
        "description",
    }


def test_a_failure_of_unknown_time_is_described_without_one() -> None:
    status = ProfileStatus(
        conn_id="c",
        grant_type="client_credentials",
        state="failing",
        last_failure=FailureInfo(kind="invalid_grant", message="", at=None, where="worker"),
    )
    assert status.describe() == "last failure: invalid_grant in worker"
