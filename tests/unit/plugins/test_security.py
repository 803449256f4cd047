"""CSRF tokens and the single-use, expiring, user-bound authorization state (no Airflow needed)."""

from __future__ import annotations

import string

import pytest

from airflow_oauth_connector.plugins.security import (
    VARIABLE_PREFIX,
    CsrfProtector,
    MemoryStateBackend,
    PendingAuthorizations,
    StateError,
    derive_key,
)
from tests.support.builders import Clock

SECRET = b"test-secret-key"


@pytest.fixture
def clock() -> Clock:
    return Clock(1_800_000_000.0)


@pytest.fixture
def store(clock: Clock) -> PendingAuthorizations:
    return PendingAuthorizations(derive_key(SECRET, "state"), MemoryStateBackend(), ttl=600, clock=clock)


def _create(store: PendingAuthorizations, user: str = "alice") -> str:
    callback = "http://127.0.0.1:8080/oauth-connector/callback"
    return store.create("crm", user, redirect_uri=callback, code_verifier="v" * 64, nonce="n" * 43)


def test_keys_differ_per_purpose() -> None:
    assert derive_key(SECRET, "csrf") != derive_key(SECRET, "state")
    assert len(derive_key(SECRET, "csrf")) == 32


def test_csrf_token_is_bound_to_nonce_user_and_key() -> None:
    csrf = CsrfProtector.from_secret(SECRET)
    nonce = csrf.new_nonce()
    token = csrf.token_for(nonce, "alice")
    assert csrf.verify(nonce, "alice", token)
    assert not csrf.verify(nonce, "bob", token)
    assert not csrf.verify(csrf.new_nonce(), "alice", token)
    assert not csrf.verify(None, "alice", token)
    assert not csrf.verify(nonce, "alice", None)
    assert not csrf.verify(nonce, "alice", token[:-1])
    assert not CsrfProtector.from_secret(b"other").verify(nonce, "alice", token)


def test_state_round_trip_and_single_use(store: PendingAuthorizations) -> None:
    state = _create(store)
    pending = store.take(state, "alice")
    assert pending.conn_id == "crm"
    assert pending.code_verifier == "v" * 64
    assert pending.nonce == "n" * 43  # the OIDC nonce the ID Token must carry back
    assert pending.redirect_uri.endswith("/oauth-connector/callback")
    assert "v" * 64 not in repr(pending)
    assert "n" * 43 not in repr(pending)
    with pytest.raises(StateError) as exc:
        store.take(state, "alice")
    assert exc.value.problem == "used"


def test_state_is_stored_encrypted_under_a_hash(store: PendingAuthorizations) -> None:
    state = _create(store)
    backend = store.backend
    assert isinstance(backend, MemoryStateBackend)
    ((name, value),) = backend.values.items()
    assert name.startswith(VARIABLE_PREFIX)
    assert "authorization" in name
    assert state not in name
    assert "v" * 64 not in value
    # A Fernet token is URL-safe base64: no JSON (quotes, braces) of the pending record survives in clear.
    assert set(value) <= set(string.ascii_letters + string.digits + "-_=")
    assert '"crm"' not in value


def test_other_user_cannot_take_it_and_does_not_consume_it(store: PendingAuthorizations) -> None:
    state = _create(store, "alice")
    with pytest.raises(StateError) as exc:
        store.take(state, "mallory")
    assert exc.value.problem == "other_user"
    assert store.take(state, "alice").conn_id == "crm"


@pytest.mark.parametrize("state", [None, ""])
def test_missing_state(store: PendingAuthorizations, state: str | None) -> None:
    with pytest.raises(StateError) as exc:
        store.take(state, "alice")
    assert exc.value.problem == "missing"


def test_tampered_or_unknown_state(store: PendingAuthorizations) -> None:
    state = _create(store)
    for bad in (state[:-1] + ("x" if state[-1] != "x" else "y"), "unknown-state-value", "s" * 600):
        with pytest.raises(StateError) as exc:
            store.take(bad, "alice")
        assert exc.value.problem == "unknown"
    assert store.take(state, "alice")  # the real one is untouched


def test_corrupt_record_reads_as_unknown(store: PendingAuthorizations) -> None:
    state = _create(store)
    backend = store.backend
    assert isinstance(backend, MemoryStateBackend)
    backend.values[store.variable_name(state)] = "not-a-fernet-token"
    with pytest.raises(StateError) as exc:
        store.take(state, "alice")
    assert exc.value.problem == "unknown"


def test_expired_state(store: PendingAuthorizations, clock: Clock) -> None:
    state = _create(store)
    clock.now += 601
    with pytest.raises(StateError) as exc:
        store.take(state, "alice")
    assert exc.value.problem == "expired"
    assert "expired" in str(exc.value)


def test_purge_removes_expired_records_and_old_tombstones(store: PendingAuthorizations, clock: Clock) -> None:
    used = _create(store)
    store.take(used, "alice")
    old = _create(store)
    clock.now += 601
    fresh = _create(store)  # create() purges: the old pending record goes, the tombstone stays an hour
    backend = store.backend
    assert isinstance(backend, MemoryStateBackend)
    assert store.variable_name(old) not in backend.values
    assert store.variable_name(fresh) in backend.values
    assert len(backend.values) == 2
    clock.now += 3600
    assert store.purge_expired() == 2


def test_state_length_is_checked(store: PendingAuthorizations) -> None:
    with pytest.raises(ValueError, match="16 to 512"):
        store.create("crm", "alice", redirect_uri="http://x/cb", code_verifier=None, state="short")
