"""
What every token store promises, written once: a test class each backend's module subclasses with its fixtures.

A subclass provides ``make_store()``: a new store object on one shared medium per test (the same object for
the in-process memory store), so locks are checked across threads and across store objects.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import pytest

from airflow_oauth_connector.status import AuthState, CallMarker, Failure, TokenStatus
from tests.support.builders import make_token

KEY = "my_api:0123456789abcdef"
STATUS = TokenStatus(
    state=AuthState.NEEDS_REAUTHORIZATION,
    failure=Failure(kind="invalid_grant", message="refresh token revoked", at=1767225600.0, where="test"),
)
MARKER = CallMarker("done", 1767225600.0, 201)
WAIT = 30.0  # bound on every wait for another thread: a broken lock fails the test instead of hanging it


def _run(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


class StoreContract:
    """Round trip, re-entrant per-key lock excluding other threads and store objects, status and call markers."""

    @pytest.fixture
    def make_store(self) -> Callable[[], Any]:
        raise NotImplementedError("a backend's test class provides make_store")

    @pytest.fixture
    def store(self, make_store: Callable[[], Any]) -> Any:
        return make_store()

    def test_round_trip_load_save_delete(self, store: Any) -> None:
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

    def test_the_refresh_tokens_stated_expiry_is_kept(self, store: Any) -> None:
        token = dataclasses.replace(make_token(), refresh_expires_at=1767225600.0)
        store.save(KEY, token)
        loaded = store.load(KEY)
        assert loaded == token
        assert loaded.refresh_expires_at == 1767225600.0

    def test_lock_is_reentrant_in_one_thread_and_per_key(self, store: Any) -> None:
        with store.lock(KEY), store.lock(KEY), store.lock("other:key"):
            store.save(KEY, make_token())
        with store.lock(KEY):
            pass

    def test_lock_blocks_another_store_object_until_released_and_not_other_keys(
        self, make_store: Callable[[], Any]
    ) -> None:
        holder, waiter = make_store(), make_store()
        held, release, entered = threading.Event(), threading.Event(), threading.Event()

        def hold() -> None:
            with holder.lock(KEY):
                held.set()
                release.wait(WAIT)

        def wait() -> None:
            with waiter.lock(KEY):
                entered.set()

        holding = _run(hold)
        assert held.wait(WAIT)
        waiting = _run(wait)
        with waiter.lock("other:key"):  # another key is free while KEY is held
            pass
        assert not entered.wait(0.2)  # still held: a lock that let it in would have done so at once
        release.set()
        assert entered.wait(WAIT)  # and it gets in as soon as the holder lets go
        holding.join(WAIT)
        waiting.join(WAIT)
        assert not holding.is_alive()
        assert not waiting.is_alive()

    def test_lock_excludes_other_threads_and_other_store_objects(self, make_store: Callable[[], Any]) -> None:
        stores = [make_store() for _ in range(3)]
        threads_per_store = 2
        start = threading.Barrier(len(stores) * threads_per_store, timeout=WAIT)
        inside = 0
        overlaps = 0
        entries = 0
        guard = threading.Lock()

        def worker(store: Any) -> None:
            nonlocal inside, overlaps, entries
            start.wait()  # all threads contend from the same instant
            for _ in range(5):
                with store.lock(KEY):
                    with guard:
                        inside += 1
                        entries += 1
                        overlaps += inside > 1
                    with guard:
                        inside -= 1

        threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in stores for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        assert not any(t.is_alive() for t in threads)
        assert entries == len(threads) * 5
        assert overlaps == 0

    def test_status_round_trip_outlives_the_token(self, store: Any, fernet_key: str) -> None:
        assert store.load_status(KEY) is None
        store.save_status(KEY, STATUS)
        assert store.load_status(KEY) == STATUS
        store.save(KEY, make_token())
        store.delete(KEY)  # the status outlives the token
        assert store.load_status(KEY) == STATUS
        store.clear_status(KEY)
        assert store.load_status(KEY) is None

    def test_call_marker_round_trip(self, store: Any, fernet_key: str) -> None:
        store.save_status("marker:1", CallMarker("sent", 1.0))
        assert store.load_status("marker:1") == CallMarker("sent", 1.0)
        store.save_status("marker:1", MARKER)
        assert store.load_status("marker:1") == MARKER
