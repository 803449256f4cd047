"""save_authorization and forget_tokens: the connection's extra in the metadata DB and the token store, together."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_oauth_connector import authorization as authz
from airflow_oauth_connector.authorization import (
    AuthorizationStorageError,
    connection_status,
    forget_tokens,
    profile_status,
    save_authorization,
)
from airflow_oauth_connector.store.factory import store_for
from airflow_oauth_connector.token import refresh_origin
from tests.support.authorization import (
    ACCESS,
    OLD_REFRESH,
    REFRESH,
    add_connection,
    assert_secret_free,
    authorized_token,
    db_extra,
    extra_for,
)


def test_not_authorized_then_saved_authorization_is_in_db_and_store(db: Any) -> None:
    conn_id = add_connection()
    before = connection_status(conn_id)
    assert before.state == "not_authorized"
    assert before.refresh_token_present is False
    assert before.describe().startswith("not authorized")

    token = authorized_token()
    save_authorization(conn_id, token)

    extra = db_extra(conn_id)
    assert extra["refresh_token"] == REFRESH
    assert extra["access_token"] == ACCESS
    assert extra["authorized_scope"] == "read write"
    assert extra["access_token_expires_at"] == pytest.approx(token.expires_at)
    assert extra["authorized_at"] == pytest.approx(token.issued_at)
    assert extra["grant_type"] == "authorization_code"  # the rest of the extra is kept

    profile = authz.load_profile(conn_id)
    assert profile.refresh_token == REFRESH
    assert store_for(profile).load(profile.cache_key) == token.with_origin(refresh_origin(REFRESH))

    status = profile_status(profile)
    assert status.state == "authorized"
    assert status.refresh_token_present is True
    assert status.expires_at == pytest.approx(token.expires_at)
    assert status.last_refresh == pytest.approx(token.issued_at)
    assert status.scope == "read write"
    assert status.describe().startswith("authorized; token expires at ")
    assert status.describe().endswith(" UTC")
    assert_secret_free(repr(status), str(status), status.describe(), json.dumps(status.to_dict()))


def test_response_without_refresh_token_keeps_the_stored_one(db: Any) -> None:
    conn_id = add_connection(extra_for(refresh_token=OLD_REFRESH))
    save_authorization(conn_id, authorized_token(refresh=None))
    extra = db_extra(conn_id)
    assert extra["refresh_token"] == OLD_REFRESH
    assert extra["access_token"] == ACCESS
    profile = authz.load_profile(conn_id)
    cached = store_for(profile).load(profile.cache_key)
    assert cached is not None
    assert cached.origin == refresh_origin(OLD_REFRESH)
    assert profile_status(profile).refresh_token_present is True


def test_forget_tokens_keeps_client_secret_and_settings(db: Any) -> None:
    conn_id = add_connection()
    save_authorization(conn_id, authorized_token())
    profile = authz.load_profile(conn_id)
    forget_tokens(conn_id)
    extra = db_extra(conn_id)  # also asserts the password is still the client secret
    assert not set(extra) & set(authz.AUTHORIZATION_KEYS)
    assert extra["scope"] == "read write"
    assert store_for(profile).load(profile.cache_key) is None
    assert connection_status(conn_id).state == "not_authorized"


def test_save_for_unknown_or_foreign_connection_fails_and_stores_nothing(db: Any) -> None:
    with pytest.raises(AuthorizationStorageError, match="not stored in the Airflow metadata database"):
        save_authorization("authz_does_not_exist", authorized_token())
    other = add_connection({"foo": "bar"}, conn_type="http")
    with pytest.raises(AuthorizationStorageError, match="has type 'http'"):
        save_authorization(other, authorized_token())
    assert "refresh_token" not in db_extra(other)


def test_invalid_profile_is_rolled_back(db: Any) -> None:
    conn_id = add_connection(extra_for(access_url="ftp://nope"))
    with pytest.raises(Exception, match="access_url"):
        save_authorization(conn_id, authorized_token())
    assert "refresh_token" not in db_extra(conn_id)
    status = connection_status(conn_id)
    assert status.state == "error"
    assert status.last_error is not None
    assert "access_url" in status.last_error


def test_captured_values_are_written_and_a_token_without_them_removes_them(db: Any) -> None:
    conn_id = add_connection()
    save_authorization(conn_id, authorized_token().with_captured({"realmId": "4620816365"}))
    assert db_extra(conn_id)["captured"] == {"realmId": "4620816365"}
    save_authorization(conn_id, authorized_token())
    assert "captured" not in db_extra(conn_id)


def test_a_callers_session_is_used_and_committed_by_the_caller(db: Any) -> None:
    from airflow.utils.session import create_session

    conn_id = add_connection()
    with create_session() as session:
        save_authorization(conn_id, authorized_token(), session=session)
        session.rollback()  # the caller decides: nothing of the extra was committed
    assert "refresh_token" not in db_extra(conn_id)


def test_a_test_of_a_copy_under_a_random_id_is_recorded_on_the_stored_connection(db: Any) -> None:
    """Airflow's Connections page tests a copy under a random id; the stored connection shows the outcome."""
    from airflow_oauth_connector.authorization.commands import share_test_outcome
    from airflow_oauth_connector.profile import OAuthProfile
    from airflow_oauth_connector.status import Failure, TokenStatus

    conn_id = add_connection(extra_for("client_credentials"))
    other = add_connection(extra_for("client_credentials", scope="admin"))  # other settings: not the one tested
    stored = authz.load_profile(conn_id)
    copy = OAuthProfile.from_fields(
        "aBcD1234",
        host="https://api.example.com",
        login=stored.client_id,
        password=stored.client_secret,
        extra=extra_for("client_credentials"),
    )
    failure = Failure(kind="invalid_client", message="bad", at=1_795_915_380.0, where="test")
    assert share_test_outcome(copy, TokenStatus(failure=failure)) == [conn_id]
    status = connection_status(conn_id)
    assert status.state == "failing"
    assert status.last_failure is not None
    assert (status.last_failure.kind, status.last_failure.where) == ("invalid_client", "test")
    assert connection_status(other).state == "not_tested"
    assert share_test_outcome(copy, TokenStatus(last_success=1_795_915_400.0)) == [conn_id]
    after = connection_status(conn_id)
    assert (after.state, after.last_failure, after.last_success) == ("ready", None, 1_795_915_400.0)
    assert share_test_outcome(stored, TokenStatus(failure=failure)) == []  # a stored connection records its own


def test_a_twin_whose_store_fails_is_skipped_and_the_others_get_the_outcome(
    db: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from airflow_oauth_connector.authorization import commands
    from airflow_oauth_connector.exceptions import TokenStoreError
    from airflow_oauth_connector.profile import OAuthProfile
    from airflow_oauth_connector.status import Failure, TokenStatus

    broken, working = add_connection(extra_for("client_credentials")), add_connection(extra_for("client_credentials"))
    stored = authz.load_profile(working)
    copy = OAuthProfile.from_fields(
        "aBcD1234",
        host="https://api.example.com",
        login=stored.client_id,
        password=stored.client_secret,
        extra=extra_for("client_credentials"),
    )

    def store_or_fail(profile: Any, override: object | None = None) -> Any:
        if profile.conn_id == broken:
            raise TokenStoreError(f"Redis token store unavailable ({stored.client_secret})")
        return store_for(profile, override)

    monkeypatch.setattr(commands, "store_for", store_or_fail)
    failure = Failure(kind="invalid_client", message="bad", at=1_795_915_380.0, where="test")
    with caplog.at_level(logging.WARNING, logger="airflow_oauth_connector.status"):
        assert sorted(commands.share_test_outcome(copy, TokenStatus(failure=failure))) == sorted([broken, working])
    assert f"Connection {broken!r}: could not record the connection test's outcome" in caplog.text
    assert_secret_free(caplog.text)
    assert connection_status(working).state == "failing"
    assert connection_status(broken).state == "not_tested"


def test_a_failed_authorization_that_cannot_be_recorded_is_logged_not_raised(
    db: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from airflow_oauth_connector.authorization import commands
    from airflow_oauth_connector.exceptions import InvalidGrantError, TokenStoreNotConfiguredError

    profile = authz.load_profile(add_connection())

    def no_store(profile: Any, override: object | None = None) -> Any:
        raise TokenStoreNotConfiguredError(profile.conn_id, "CeleryExecutor")

    monkeypatch.setattr(commands, "store_for", no_store)
    with caplog.at_level(logging.WARNING, logger="airflow_oauth_connector.status"):
        commands.record_failure(profile, InvalidGrantError("invalid_grant", "code expired"), "page")
    assert f"Connection {profile.conn_id!r}: could not record the failed authorization" in caplog.text
    assert "(TokenStoreNotConfiguredError)" in caplog.text


def test_a_failed_authorization_is_recorded_on_the_page_and_kept_by_a_later_read(db: Any) -> None:
    from airflow_oauth_connector.authorization.commands import record_failure
    from airflow_oauth_connector.exceptions import InvalidGrantError

    conn_id = add_connection()
    profile = authz.load_profile(conn_id)
    save_authorization(conn_id, authorized_token())
    record_failure(profile, InvalidGrantError("invalid_grant", "code expired"), "page", secrets=("the-code",))
    status = connection_status(conn_id)
    assert status.last_failure is not None
    assert (status.last_failure.kind, status.last_failure.where) == ("invalid_grant", "page")
    assert status.last_success is not None  # the authorization's success is kept
