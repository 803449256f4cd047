"""authorization.py against a real (SQLite) Airflow metadata DB and the real token stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet

from airflow_oauth_connector import authorization as authz
from airflow_oauth_connector.authorization import (
    AuthorizationStorageError,
    ProfileStatus,
    connection_status,
    exchange_and_save,
    forget_tokens,
    profile_status,
    save_authorization,
)
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.status import AuthState, Failure, TokenStatus
from airflow_oauth_connector.store.factory import clear_store_cache, store_for
from airflow_oauth_connector.store.memory import MemoryTokenStore
from airflow_oauth_connector.token import Token, refresh_origin
from tests.support import builders

SECRET = "client-secret-SENTINEL-4242"
ACCESS = "access-token-SENTINEL-1111"
REFRESH = "refresh-token-SENTINEL-2222"
OLD_REFRESH = "refresh-token-SENTINEL-OLD-3333"
SECRETS = (SECRET, ACCESS, REFRESH, OLD_REFRESH)


@pytest.fixture(autouse=True)
def _store_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """File token store in a temporary directory, no Fernet key unless a test sets one."""
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE", "file")
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__TOKEN_DIRECTORY", str(tmp_path / "tokens"))
    clear_store_cache()
    yield
    clear_store_cache()


_CREATED: list[str] = []


@pytest.fixture
def db(airflow_db: Any) -> Iterator[Any]:
    """The session's SQLite metadata DB; connections a test adds are deleted afterwards."""
    yield airflow_db
    from airflow.models import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id.in_(_CREATED)).delete(synchronize_session=False)
    _CREATED.clear()


def _extra(grant: str = "authorization_code", **more: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "grant_type": grant,
        "access_url": "https://auth.example.com/oauth/token",
        "authorize_url": "https://auth.example.com/oauth/authorize",
        "scope": "read write",
    }
    extra.update(more)
    return extra


def add_connection(extra: dict[str, Any] | None = None, *, conn_type: str = "oauth_connector") -> str:
    from airflow.models import Connection
    from airflow.utils.session import create_session

    conn_id = f"authz_{uuid.uuid4().hex[:10]}"
    _CREATED.append(conn_id)
    with create_session() as session:
        session.add(
            Connection(
                conn_id=conn_id,
                conn_type=conn_type,
                host="https://api.example.com",
                login="client-1",
                password=SECRET,
                extra=json.dumps(_extra() if extra is None else extra),
            )
        )
    return conn_id


def db_extra(conn_id: str) -> dict[str, Any]:
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        conn = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
        assert conn is not None
        assert conn.password == SECRET
        return dict(conn.extra_dejson)


def authorized_token(*, refresh: str | None = REFRESH, lifetime: float = 3600.0) -> Token:
    return builders.make_token(ACCESS, refresh=refresh, lifetime=lifetime, scope="read write")


def assert_secret_free(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


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


def test_save_clears_needs_reauthorization_and_newest_refresh_token_wins(db: Any) -> None:
    conn_id = add_connection(_extra(refresh_token=OLD_REFRESH))
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

    save_authorization(conn_id, authorized_token())
    assert store.load_status(profile.cache_key) is None
    cached = store.load(profile.cache_key)
    assert cached is not None
    assert cached.refresh_token == REFRESH
    assert db_extra(conn_id)["refresh_token"] == REFRESH
    assert connection_status(conn_id).state == "authorized"


def test_connection_reauthorized_elsewhere_is_not_needs_reauthorization(db: Any) -> None:
    """A refresh token pasted into the connection after a rejection supersedes the rejected cached chain."""
    conn_id = add_connection(_extra(refresh_token=REFRESH))
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
    conn_id = add_connection(_extra(refresh_token=REFRESH))
    profile = authz.load_profile(conn_id)
    store = store_for(profile)
    store.save(profile.cache_key, authorized_token(refresh=OLD_REFRESH, lifetime=-10).with_origin(None))
    store.save_status(profile.cache_key, _needs_reauthorization())
    status = profile_status(profile)
    assert status.state == "needs_reauthorization"
    assert status.last_error is not None


def test_legacy_status_record_is_read(db: Any) -> None:
    """A status written by an earlier version (an untyped dict) still shows as needing re-authorization."""
    conn_id = add_connection(_extra(refresh_token=REFRESH))
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


def test_response_without_refresh_token_keeps_the_stored_one(db: Any) -> None:
    conn_id = add_connection(_extra(refresh_token=OLD_REFRESH))
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
    conn_id = add_connection(_extra(access_url="ftp://nope"))
    with pytest.raises(Exception, match="access_url"):
        save_authorization(conn_id, authorized_token())
    assert "refresh_token" not in db_extra(conn_id)
    status = connection_status(conn_id)
    assert status.state == "error"
    assert status.last_error is not None
    assert "access_url" in status.last_error


def test_unknown_connection_status_is_an_error(db: Any) -> None:
    status = connection_status("authz_not_defined_anywhere")
    assert status.state == "error"
    assert "not defined" in status.describe()


def test_client_credentials_is_ready() -> None:
    profile = OAuthProfile.from_fields(
        "cc_ready",
        host="https://api.example.com",
        login="c",
        password=SECRET,
        extra={"grant_type": "client_credentials", "access_url": "https://auth.example.com/token"},
    )
    store = MemoryTokenStore()
    status = profile_status(profile, store)
    assert status.state == "ready"
    assert status.describe() == "ready (client credentials); no token cached yet (obtained on first use)"
    store.save(profile.cache_key, authorized_token(refresh=None))
    assert profile_status(profile, store).describe().startswith("ready (client credentials); token expires at")


def test_access_token_without_refresh_token_expired_needs_reauthorization() -> None:
    profile = OAuthProfile.from_fields(
        "ac_expired", host="https://api.example.com", login="c", password=SECRET, extra=_extra()
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
        "broken_store", host="https://api.example.com", login="c", password=SECRET, extra=_extra()
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
    assert set(authz.STATES) == {"not_authorized", "authorized", "needs_reauthorization", "error", "ready"}


def test_exchange_and_save_uses_client_and_returns_new_status(db: Any) -> None:
    conn_id = add_connection()
    profile = authz.load_profile(conn_id)
    calls: list[dict[str, Any]] = []

    class FakeClient:
        def exchange_code(self, code: str, *, code_verifier: str | None, redirect_uri: str | None) -> Token:
            calls.append({"code": code, "code_verifier": code_verifier, "redirect_uri": redirect_uri})
            return authorized_token()

    status = exchange_and_save(profile, "the-code", "the-verifier", "http://127.0.0.1:1/callback", client=FakeClient())  # type: ignore[arg-type]
    assert calls == [
        {"code": "the-code", "code_verifier": "the-verifier", "redirect_uri": "http://127.0.0.1:1/callback"}
    ]
    assert status.state == "authorized"
    assert db_extra(conn_id)["refresh_token"] == REFRESH


def test_extra_is_encrypted_in_the_db_with_a_fernet_key(db: Any, tmp_path: Any) -> None:
    """Airflow caches its Fernet object per process, so this runs in a subprocess with its own key."""
    script = textwrap.dedent(
        """
        import json, sys, time
        from sqlalchemy import text
        from airflow.models import Connection
        from airflow.utils.session import create_session
        from airflow_oauth_connector.authorization import save_authorization
        from airflow_oauth_connector.token import Token, refresh_origin

        conn_id, secret, access, refresh = sys.argv[1:5]
        with create_session() as s:
            s.add(Connection(conn_id=conn_id, conn_type="oauth_connector", host="https://api.example.com",
                             login="c", password=secret, extra=json.dumps({
                                 "grant_type": "authorization_code",
                                 "access_url": "https://auth.example.com/token",
                                 "authorize_url": "https://auth.example.com/authorize"})))
        now = time.time()
        save_authorization(conn_id, Token(access_token=access, refresh_token=refresh, expires_at=now + 60,
                                          issued_at=now))
        with create_session() as s:
            raw, flag = s.execute(text("SELECT extra, is_extra_encrypted FROM connection WHERE conn_id = :c"),
                                  {"c": conn_id}).one()
            conn = s.query(Connection).filter_by(conn_id=conn_id).one()
            print(json.dumps({"raw": raw, "flag": bool(flag), "refresh": conn.extra_dejson.get("refresh_token")}))
            s.delete(conn)
        """
    )
    env = dict(os.environ)
    env["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
    env["AIRFLOW__OAUTH_CONNECTOR__TOKEN_DIRECTORY"] = str(tmp_path / "sub-tokens")
    conn_id = f"authz_fernet_{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [sys.executable, "-c", script, conn_id, SECRET, ACCESS, REFRESH],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["flag"] is True
    assert out["refresh"] == REFRESH
    assert_secret_free(out["raw"])
    assert "authorization_code" not in out["raw"]
