"""What every token store promises, checked on each backend (memory, file, and the real Redis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_oauth_connector.status import AuthState, CallMarker, Failure, TokenStatus
from airflow_oauth_connector.store import MemoryTokenStore
from airflow_oauth_connector.store.file import FileTokenStore
from airflow_oauth_connector.store.redis import RedisTokenStore
from tests.support.builders import make_token
from tests.unit.store.conftest import REDIS_URL

KEY = "my_api:0123456789abcdef"
STATUS = TokenStatus(
    state=AuthState.NEEDS_REAUTHORIZATION,
    failure=Failure(kind="invalid_grant", message="refresh token revoked", at=1767225600.0, where="test"),
)
MARKER = CallMarker("done", 1767225600.0, 201)


@pytest.fixture(params=["memory", "file", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory":
        return MemoryTokenStore()
    if request.param == "file":
        return FileTokenStore(tmp_path / "tokens", wait_timeout=5)
    prefix = request.getfixturevalue("redis_prefix")
    return RedisTokenStore(REDIS_URL, prefix=prefix, lock_timeout=5, wait_timeout=5)


def test_round_trip_load_save_delete(store: Any) -> None:
    assert store.load(KEY) is None
    token = make_token()
    store.save(KEY, token)
    assert store.load(KEY) == token
    assert store.load("other:key") is None
    replacement = make_token("second-access-token")
    store.save(KEY, replacement)
    assert store.load(KEY) == replacement
    store.delete(KEY)
    assert store.load(KEY) is None
    store.delete(KEY)  # deleting nothing is fine


def test_lock_is_reentrant_in_one_thread_and_per_key(store: Any) -> None:
    with store.lock(KEY), store.lock(KEY), store.lock("other:key"):
        store.save(KEY, make_token())
    with store.lock(KEY):
        pass


def test_status_round_trip_outlives_the_token(store: Any, fernet_key: str) -> None:
    assert store.load_status(KEY) is None
    store.save_status(KEY, STATUS)
    assert store.load_status(KEY) == STATUS
    store.save(KEY, make_token())
    store.delete(KEY)  # the status outlives the token
    assert store.load_status(KEY) == STATUS
    store.clear_status(KEY)
    assert store.load_status(KEY) is None


def test_call_marker_round_trip(store: Any, fernet_key: str) -> None:
    store.save_status("marker:1", CallMarker("sent", 1.0))
    assert store.load_status("marker:1") == CallMarker("sent", 1.0)
    store.save_status("marker:1", MARKER)
    assert store.load_status("marker:1") == MARKER
