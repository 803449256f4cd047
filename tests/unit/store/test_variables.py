"""
VariableTokenStore over an in-process stand-in for ``airflow.sdk.Variable`` (get/set/delete by name).

``airflow.sdk.Variable`` writes only from inside a task; the store in a real task is in
tests/integration/store/test_variables.py. Here: names, encryption, the lost-race adoption, status records,
the process-local lock and the errors, each exactly.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest
from cryptography.fernet import Fernet

from airflow_oauth_connector.exceptions import TokenStoreError, TokenStoreLockTimeoutError
from airflow_oauth_connector.store.codec import TokenCodec
from airflow_oauth_connector.store.variables import VariableTokenStore
from tests.support.builders import make_token
from tests.support.store_contract import KEY, MARKER, STATUS

ACCESS = "ACCESS-SECRET-vars-1"


class FakeVariables:
    """What ``airflow.sdk.Variable`` offers the store: values by name, with descriptions; calls recorded."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.descriptions: dict[str, str | None] = {}
        self.after_set: Any = None  # a rival writer, run right after our write lands
        self.broken: Exception | None = None

    def get(self, name: str, default: Any = None) -> Any:
        self._check()
        return self.values.get(name, default)

    def set(self, name: str, value: str, description: str | None = None) -> None:
        self._check()
        self.values[name] = value
        self.descriptions[name] = description
        rival, self.after_set = self.after_set, None
        if rival is not None:
            rival()

    def delete(self, name: str) -> None:
        self._check()
        self.values.pop(name, None)

    def _check(self) -> None:
        if self.broken is not None:
            raise self.broken


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> FakeVariables:
    import airflow.sdk

    fake = FakeVariables()
    monkeypatch.setattr(airflow.sdk, "Variable", fake)
    return fake


@pytest.fixture
def codec() -> TokenCodec:
    return TokenCodec(Fernet.generate_key().decode())


def test_round_trip_under_a_masked_name_and_encrypted(variables: FakeVariables, codec: TokenCodec) -> None:
    store = VariableTokenStore(codec=codec)
    token = make_token(ACCESS)
    assert store.load(KEY) is None
    store.save(KEY, token)
    name = store.variable_key(KEY)
    assert name.startswith("oauth_connector__token__")
    assert len(name) == len("oauth_connector__token__") + 32
    assert KEY not in name
    assert ACCESS not in variables.values[name]
    assert "'my_api'" in str(variables.descriptions[name])
    assert store.load(KEY) == token
    assert VariableTokenStore(codec=codec).load(KEY) == token  # another store object (process) reads it
    store.delete(KEY)
    assert store.load(KEY) is None


def test_the_refresh_tokens_stated_expiry_is_kept(variables: FakeVariables, codec: TokenCodec) -> None:
    token = dataclasses.replace(make_token(ACCESS), refresh_expires_at=1767225600.0)
    VariableTokenStore(codec=codec).save(KEY, token)
    loaded = VariableTokenStore(codec=codec).load(KEY)
    assert loaded == token
    assert loaded is not None
    assert loaded.refresh_expires_at == 1767225600.0


def test_another_prefix_is_another_set_of_variables(variables: FakeVariables, codec: TokenCodec) -> None:
    VariableTokenStore(codec=codec).save(KEY, make_token(ACCESS))
    assert VariableTokenStore("team_b__", codec=codec).load(KEY) is None


def test_a_commit_that_lost_the_race_adopts_the_winners_token(variables: FakeVariables, codec: TokenCodec) -> None:
    ours, theirs = make_token("ACCESS-OURS"), make_token("ACCESS-THEIRS")
    store, rival = VariableTokenStore(codec=codec), VariableTokenStore(codec=codec)
    variables.after_set = lambda: rival.save(KEY, theirs)  # lands between our write and our re-read
    assert store.commit(KEY, ours) == theirs
    assert store.commit(KEY, ours) == ours  # no rival this time: our own token
    assert store.load(KEY) == ours


def test_status_records_and_call_markers_round_trip_and_clear(variables: FakeVariables, codec: TokenCodec) -> None:
    store = VariableTokenStore(codec=codec)
    store.save_status(KEY, STATUS)
    store.save_status("call:marker", MARKER)
    assert store.load_status(KEY) == STATUS
    assert store.load_status("call:marker") == MARKER
    assert store.load(KEY) is None  # the status slot is not the token slot
    store.clear_status(KEY)
    assert store.load_status(KEY) is None
    assert store.load_status("call:marker") == MARKER


@pytest.mark.parametrize("operation", ["load", "save", "delete", "load_status"])
def test_a_failing_variable_backend_is_a_token_store_error_without_its_message(
    variables: FakeVariables, codec: TokenCodec, operation: str
) -> None:
    store = VariableTokenStore(codec=codec)
    variables.broken = ConnectionError(f"database at postgresql://airflow:{ACCESS}@db failed")
    calls = {
        "load": lambda: store.load(KEY),
        "save": lambda: store.save(KEY, make_token(ACCESS)),
        "delete": lambda: store.delete(KEY),
        "load_status": lambda: store.load_status(KEY),
    }
    with pytest.raises(TokenStoreError, match="Airflow Variable 'oauth_connector__") as caught:
        calls[operation]()
    assert "ConnectionError" in str(caught.value)
    assert ACCESS not in str(caught.value)


def test_the_lock_excludes_other_threads_of_the_process_and_times_out(variables: FakeVariables) -> None:
    store = VariableTokenStore(wait_timeout=0.05, codec=TokenCodec(None))
    held, release, outcome = threading.Event(), threading.Event(), []

    def holder() -> None:
        with store.lock(KEY):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    assert held.wait(30)
    with pytest.raises(TokenStoreLockTimeoutError, match="variables token store"), store.lock(KEY):
        outcome.append("entered")
    with store.lock("other:key"):  # another key is not held
        outcome.append("other key")
    release.set()
    thread.join(30)
    with store.lock(KEY):
        outcome.append("after release")
    assert outcome == ["other key", "after release"]
