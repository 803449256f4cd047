"""
The status read model (authorization/read_model.py): "not tested yet", "ready" only after a success, the last
failure with kind, time and where; on stored connections (Airflow's connection table) and real token stores.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest

from airflow_oauth_connector import authorization as authz
from airflow_oauth_connector.authorization import (
    ProfileStatus,
    connection_status,
    profile_status,
    save_authorization,
)
from airflow_oauth_connector.authorization.read_model import FailureInfo
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.status import AuthState, Failure, TokenStatus
from airflow_oauth_connector.store.factory import store_for
from airflow_oauth_connector.store.memory import MemoryTokenStore
from airflow_oauth_connector.token import Token, refresh_origin
from tests.support.authorization import (
    OLD_REFRESH,
    REFRESH,
    SECRET,
    add_connection,
    assert_secret_free,
    authorized_token,
    db_extra,
    extra_for,
)
from tests.support.builders import AUTHORIZE_URL, CLIENT_SECRET, make_profile, make_token, set_connection

AT = 1_795_915_380.0  # 2026-11-29 01:23 UTC


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
        "refresh_expires_at",
        "description",
        "refresh_expiry_text",
    }


def test_a_failure_of_unknown_time_is_described_without_one() -> None:
    status = ProfileStatus(
        conn_id="c",
        grant_type="client_credentials",
        state="failing",
        last_failure=FailureInfo(kind="invalid_grant", message="", at=None, where="worker"),
    )
    assert status.describe() == "last failure: invalid_grant in worker"


def test_save_clears_needs_reauthorization_and_newest_refresh_token_wins(db: Any) -> None:
    conn_id = add_connection(extra_for(refresh_token=OLD_REFRESH))
    profile = authz.load_profile(conn_id)
    store = store_for(profile)
    store.save(profile.cache_key, authorized_token(refresh=OLD_REFRESH, lifetime=-10))
    store.save_status(profile.cache_key, _needs_reauthorization(f"bad {OLD_REFRESH}"))
    status = profile_status(profile)
    assert status.state == "needs_reauthorization"
    assert status.last_error is not None
    assert status.last_error.startswith("invalid_grant")
    assert status.describe().startswith("needs re-authorization: invalid_grant")
    assert_secret_free(repr(status), status.describe())

    authorized = authorized_token()
    save_authorization(conn_id, authorized)
    after = store.load_status(profile.cache_key)  # the failure cleared, the authorization recorded as a success
    assert after == TokenStatus(last_success=authorized.issued_at, last_refresh=authorized.issued_at)
    cached = store.load(profile.cache_key)
    assert cached is not None
    assert cached.refresh_token == REFRESH
    assert db_extra(conn_id)["refresh_token"] == REFRESH
    assert connection_status(conn_id).state == "authorized"


def test_connection_reauthorized_elsewhere_is_not_needs_reauthorization(db: Any) -> None:
    """A refresh token pasted into the connection after a rejection supersedes the rejected cached chain."""
    conn_id = add_connection(extra_for(refresh_token=REFRESH))
    profile = authz.load_profile(conn_id)
    store = store_for(profile)
    rejected = authorized_token(refresh=OLD_REFRESH, lifetime=-10).with_origin(refresh_origin(OLD_REFRESH))
    store.save(profile.cache_key, rejected)
    store.save_status(profile.cache_key, _needs_reauthorization())
    status = profile_status(profile)
    assert status.state == "authorized"
    assert status.last_error is None
    store.save(profile.cache_key, rejected.with_origin(refresh_origin(REFRESH)))
    assert profile_status(profile).state == "needs_reauthorization"


def test_cached_chain_of_unknown_origin_is_not_superseded(db: Any) -> None:
    """Newest grant wins only over a chain of known origin: the token manager keeps refreshing an origin-less chain."""
    conn_id = add_connection(extra_for(refresh_token=REFRESH))
    profile = authz.load_profile(conn_id)
    store = store_for(profile)
    store.save(profile.cache_key, authorized_token(refresh=OLD_REFRESH, lifetime=-10).with_origin(None))
    store.save_status(profile.cache_key, _needs_reauthorization())
    status = profile_status(profile)
    assert status.state == "needs_reauthorization"
    assert status.last_error is not None


def test_legacy_status_record_is_read(db: Any) -> None:
    """A status written by an earlier version (an untyped dict) still shows as needing re-authorization."""
    conn_id = add_connection(extra_for(refresh_token=REFRESH))
    profile = authz.load_profile(conn_id)
    store = store_for(profile)
    legacy = {"state": "needs_reauthorization", "error": "invalid_grant", "at": 1.0}
    raw = store.codec.encode_record({"v": 1, "key": profile.cache_key, "status": legacy})  # type: ignore[attr-defined]
    store.save_status(profile.cache_key, _needs_reauthorization())  # creates the directory
    store.path_for(profile.cache_key, "status").write_bytes(raw)  # type: ignore[attr-defined]
    status = profile_status(profile)
    assert status.state == "needs_reauthorization"
    assert status.last_error is not None
    assert status.last_error.startswith("invalid_grant")


def _needs_reauthorization(message: str = "") -> TokenStatus:
    failure = Failure(kind="invalid_grant", message=message, at=1.0, where="dag/task/try 1")
    return TokenStatus(state=AuthState.NEEDS_REAUTHORIZATION, failure=failure)


def test_unknown_connection_status_is_an_error(db: Any) -> None:
    status = connection_status("authz_not_defined_anywhere")
    assert status.state == "error"
    assert "not defined" in status.describe()


def test_client_credentials_is_not_tested_until_a_token_is_there() -> None:
    profile = OAuthProfile.from_fields(
        "cc_ready",
        host="https://api.example.com",
        login="c",
        password=SECRET,
        extra={"grant_type": "client_credentials", "access_url": "https://auth.example.com/token"},
    )
    store = MemoryTokenStore()
    status = profile_status(profile, store)
    assert status.state == "not_tested"
    assert status.describe() == "not tested yet: no token requested so far (press Test, or run a task)"
    store.save(profile.cache_key, authorized_token(refresh=None))
    assert profile_status(profile, store).state == "ready"
    assert profile_status(profile, store).describe().startswith("ready; token expires at")


def test_access_token_without_refresh_token_expired_needs_reauthorization() -> None:
    profile = OAuthProfile.from_fields(
        "ac_expired", host="https://api.example.com", login="c", password=SECRET, extra=extra_for()
    )
    store = MemoryTokenStore()
    store.save(profile.cache_key, authorized_token(refresh=None, lifetime=-1))
    status = profile_status(profile, store)
    assert status.state == "needs_reauthorization"
    assert status.refresh_token_present is False


def test_store_failure_is_an_error_status() -> None:
    class Broken(MemoryTokenStore):
        def load(self, key: str) -> Token | None:
            from airflow_oauth_connector.exceptions import TokenStoreError

            raise TokenStoreError(f"redis down while reading {SECRET}")

    profile = OAuthProfile.from_fields(
        "broken_store", host="https://api.example.com", login="c", password=SECRET, extra=extra_for()
    )
    status = profile_status(profile, Broken())
    assert status.state == "error"
    assert status.last_error is not None
    assert "token store unavailable" in status.last_error
    assert_secret_free(repr(status), status.describe())


def test_describe_formats() -> None:
    expires = 1795953600.0  # 2026-11-29 12:00 UTC
    status = ProfileStatus(
        conn_id="c", grant_type="authorization_code", state="authorized", expires_at=expires, refresh_token_present=True
    )
    assert status.describe(now=expires - 60) == "authorized; token expires at 2026-11-29 12:00 UTC"
    assert status.describe(now=expires + 1) == "authorized; token expired at 2026-11-29 12:00 UTC (renewed on next use)"
    no_refresh = ProfileStatus(conn_id="c", grant_type="authorization_code", state="authorized", expires_at=expires)
    assert "no refresh token" in no_refresh.describe(now=expires - 60)
    error = ProfileStatus(conn_id="c", grant_type="authorization_code", state="error", last_error="boom")
    assert error.describe() == "error: boom"
    assert set(authz.STATES) == {
        "not_authorized",
        "authorized",
        "needs_reauthorization",
        "error",
        "ready",
        "not_tested",
        "failing",
    }


def test_a_failed_authorization_on_the_page_is_recorded_and_a_later_one_clears_it(db: Any) -> None:
    from airflow_oauth_connector.exceptions import InvalidGrantError
    from airflow_oauth_connector.status import Where

    conn_id = add_connection()
    profile = authz.load_profile(conn_id)
    code = "code-SENTINEL-9999"
    authz.record_failure(profile, InvalidGrantError("invalid_grant", f"code {code} expired"), Where.PAGE, (code,))
    status = connection_status(conn_id)
    assert status.state == "not_authorized"
    assert status.last_failure is not None
    assert (status.last_failure.kind, status.last_failure.where) == ("invalid_grant", "page")
    assert code not in json.dumps(status.to_dict())
    assert "last failure: invalid_grant at " in status.describe()
    save_authorization(conn_id, authorized_token())
    after = connection_status(conn_id)
    assert after.state == "authorized"
    assert after.last_failure is None
    assert after.last_success is not None


# -- a Test refused for the connection's settings (kind invalid_settings, where test) ---------------------------

HTTP_TOKEN_URL = "http://auth.example.com/oauth/token"  # refused: plain http for a host that is not loopback


def test_a_test_refused_for_invalid_settings_shows_as_the_last_failure_until_they_change(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_oauth_connector.authorization.read_model import connection_profile_status
    from airflow_oauth_connector.hooks import OAuthConnectorHook

    conn_id = set_connection(monkeypatch, "crm_invalid", access_url=HTTP_TOKEN_URL)
    before = connection_status(conn_id)
    assert (before.state, before.last_failure) == ("error", None)
    assert before.describe().startswith(f"error: Connection {conn_id!r}: Access token URL (access_url): must use")

    ok, message = OAuthConnectorHook(conn_id).test_connection()
    assert not ok
    assert message.startswith("Invalid settings, no token requested: Access token URL (access_url): must use https")
    profile, status = connection_profile_status(conn_id)
    assert profile is None
    assert status.state == "error"  # still unusable: `status` exits 1
    assert status.last_failure is not None
    assert (status.last_failure.kind, status.last_failure.where) == ("invalid_settings", "test")
    assert status.last_failure.message == status.last_error  # what the Test found is what is wrong now
    assert status.describe().startswith(
        f"last failure: invalid_settings at {authz.format_time(status.last_failure.at or 0)} in test: "
        f"Connection {conn_id!r}: Access token URL (access_url): must use https"
    )
    assert CLIENT_SECRET not in json.dumps(status.to_dict()) + status.describe()

    set_connection(monkeypatch, conn_id, access_url="ftp://auth.example.com/token")
    changed = connection_status(conn_id)  # other problems: that Test was not of these settings
    assert (changed.state, changed.last_failure) == ("error", None)


def test_a_test_of_valid_settings_removes_the_refused_tests_record(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_oauth_connector.hooks import OAuthConnectorHook
    from airflow_oauth_connector.status import settings_key
    from airflow_oauth_connector.store.factory import settings_store

    conn_id = set_connection(monkeypatch, "crm_fixed", access_url=HTTP_TOKEN_URL)
    OAuthConnectorHook(conn_id).test_connection()
    assert settings_store().load_status(settings_key(conn_id)) is not None
    set_connection(monkeypatch, conn_id, access_url="https://127.0.0.1:9/token", retry_max_attempts=1)
    ok, message = OAuthConnectorHook(conn_id).test_connection()
    assert not ok  # the settings pass; nothing listens on the token URL
    assert message.startswith("Could not obtain a token"), message
    assert settings_store().load_status(settings_key(conn_id)) is None
    status = connection_status(conn_id)
    assert status.last_failure is not None
    assert (status.state, status.last_failure.kind, status.last_failure.where) == ("failing", "unreachable", "test")


# --- the refresh token's stated lifetime ---------------------------------------------------------------------
DAY = 86400.0


def _chain_with_refresh_expiry(refresh_expires_at: float | None, *, connection_refresh: str = REFRESH):  # type: ignore[no-untyped-def]
    """An authorization-code profile and a store holding its chain's token with that refresh token expiry."""
    profile = make_profile(
        grant_type="authorization_code", authorize_url=AUTHORIZE_URL, refresh_token=connection_refresh
    )
    store = MemoryTokenStore()
    token = authorized_token().with_origin(refresh_origin(REFRESH))
    store.save(profile.cache_key, dataclasses.replace(token, refresh_expires_at=refresh_expires_at))
    return profile, store


def test_an_authorized_row_says_when_its_refresh_token_expires() -> None:
    expiry = time.time() + 12 * DAY + 600
    profile, store = _chain_with_refresh_expiry(expiry)
    status = profile_status(profile, store)
    assert status.state == "authorized"
    assert status.refresh_expires_at == expiry
    assert status.refresh_expiry_text() == "refresh token expires in 12 days"
    assert status.describe().endswith("; refresh token expires in 12 days")
    data = json.loads(json.dumps(status.to_dict()))
    assert (data["refresh_expires_at"], data["refresh_expiry_text"]) == (expiry, "refresh token expires in 12 days")


def test_a_refresh_token_expiring_within_a_week_asks_to_authorize_again_before_then() -> None:
    profile, store = _chain_with_refresh_expiry(time.time() + 3 * DAY + 600)
    status = profile_status(profile, store)
    assert status.state == "authorized"
    assert status.refresh_expiry_text() == "refresh token expires in 3 days — authorize again before then"


def test_a_refresh_token_past_its_stated_lifetime_needs_reauthorization_before_any_refresh_failed() -> None:
    expiry = AT  # 2026-11-29 01:23 UTC, in the past
    profile, store = _chain_with_refresh_expiry(expiry)
    status = profile_status(profile, store)
    assert status.state == "needs_reauthorization"
    assert status.last_failure is None
    assert status.describe() == (
        "needs re-authorization: refresh token expired at 2026-11-29 01:23 UTC — authorize again"
    )
    assert status.refresh_expiry_text() == "refresh token expired at 2026-11-29 01:23 UTC — authorize again"


def test_a_refresh_token_without_a_stated_lifetime_or_replaced_by_a_newer_grant_shows_no_expiry() -> None:
    unknown = profile_status(*_chain_with_refresh_expiry(None))
    assert (unknown.state, unknown.refresh_expires_at, unknown.refresh_expiry_text()) == ("authorized", None, None)
    assert "refresh token" not in unknown.describe()
    newer = profile_status(*_chain_with_refresh_expiry(AT, connection_refresh=OLD_REFRESH + "-reauthorized"))
    assert (newer.state, newer.refresh_expires_at) == ("authorized", None)  # the old chain's expiry is not its
