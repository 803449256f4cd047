"""Token-store locks: re-entrant per-key locks, and the two-level lock's exclusion, nesting and bounded waits."""

from __future__ import annotations

import threading

import pytest

from airflow_oauth_connector.exceptions import TokenStoreLockTimeoutError
from airflow_oauth_connector.store.locks import KeyedLocks, TwoLevelLock

JOIN = 10.0  # seconds a helper thread may take at most (the global pytest timeout is the last resort)


class FakeSharedLock:
    """A cross-process lock stand-in that records every acquire and release."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.deadlines: list[float] = []
        self._count = 0

    def acquire(self, key: str, deadline: float) -> str:
        self._count += 1
        handle = f"{key}#{self._count}"
        self.events.append(("acquire", handle))
        self.deadlines.append(deadline)
        return handle

    def release(self, handle: str) -> None:
        self.events.append(("release", handle))


def _lock(shared: FakeSharedLock, wait_timeout: float = 5.0) -> TwoLevelLock[str]:
    return TwoLevelLock("fake", wait_timeout, shared.acquire, shared.release)


def _run(target: object) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def test_keyed_locks_one_lock_per_key() -> None:
    locks = KeyedLocks()
    assert locks.get("a") is locks.get("a")
    assert locks.get("a") is not locks.get("b")


def test_keyed_lock_is_reentrant() -> None:
    lock = KeyedLocks().get("a")
    with lock, lock:
        assert lock.acquire(blocking=False)
        lock.release()


def test_keyed_locks_hand_every_thread_the_same_lock() -> None:
    locks = KeyedLocks()
    barrier = threading.Barrier(4)
    seen: list[object] = []

    def get() -> None:
        barrier.wait(timeout=JOIN)
        seen.append(locks.get("k"))

    threads = [_run(get) for _ in range(4)]
    for thread in threads:
        thread.join(JOIN)
    assert len(seen) == 4
    assert all(lock is seen[0] for lock in seen)


def test_nested_holds_take_the_shared_lock_once() -> None:
    shared = FakeSharedLock()
    lock = _lock(shared)
    with lock.hold("k"):
        with lock.hold("k"):
            assert shared.events == [("acquire", "k#1")]
        assert shared.events == [("acquire", "k#1")]  # the inner exit keeps the outer hold
    assert shared.events == [("acquire", "k#1"), ("release", "k#1")]


def test_release_happens_when_the_body_raises() -> None:
    shared = FakeSharedLock()
    lock = _lock(shared)
    with pytest.raises(RuntimeError, match="boom"), lock.hold("k"):
        raise RuntimeError("boom")
    assert shared.events == [("acquire", "k#1"), ("release", "k#1")]
    with lock.hold("k"):  # not left held: a new hold acquires afresh
        pass
    assert shared.events[-2:] == [("acquire", "k#2"), ("release", "k#2")]


def test_shared_lock_failure_releases_the_local_lock() -> None:
    def refuse(key: str, deadline: float) -> str:
        raise TokenStoreLockTimeoutError("fake", key, 0.0)

    lock: TwoLevelLock[str] = TwoLevelLock("fake", 1.0, refuse, lambda _h: None)
    with pytest.raises(TokenStoreLockTimeoutError), lock.hold("k"):
        pass
    # Another thread can take the in-process lock at once (it was not leaked).
    acquired = threading.Event()

    def take() -> None:
        if lock._locks.get("k").acquire(blocking=False):
            acquired.set()

    _run(take).join(JOIN)
    assert acquired.is_set()


def test_deadline_passed_to_the_shared_lock_is_bounded_by_wait_timeout() -> None:
    import time

    shared = FakeSharedLock()
    before = time.monotonic()
    with _lock(shared, wait_timeout=7.0).hold("k"):
        pass
    after = time.monotonic()
    assert before + 7.0 <= shared.deadlines[0] <= after + 7.0


def test_threads_exclude_each_other_on_one_key() -> None:
    shared = FakeSharedLock()
    lock = _lock(shared)
    inside = threading.Event()
    let_go = threading.Event()
    second_entered = threading.Event()
    second_started = threading.Event()

    def first() -> None:
        with lock.hold("k"):
            inside.set()
            let_go.wait(JOIN)

    def second() -> None:
        second_started.set()
        with lock.hold("k"):
            second_entered.set()

    one = _run(first)
    assert inside.wait(JOIN)
    two = _run(second)
    assert second_started.wait(JOIN)
    assert not second_entered.wait(0.2)  # bounded check: the second thread is still queued
    let_go.set()
    one.join(JOIN)
    two.join(JOIN)
    assert second_entered.is_set()
    # Strictly one after the other: acquire/release of the first, then of the second.
    assert [event for event, _ in shared.events] == ["acquire", "release", "acquire", "release"]


def test_different_keys_do_not_block_each_other() -> None:
    lock = _lock(FakeSharedLock())
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def hold(key: str) -> None:
        try:
            with lock.hold(key):
                barrier.wait(timeout=JOIN)  # both inside at once, or the barrier breaks
        except BaseException as exc:
            failures.append(exc)

    threads = [_run(lambda k=key: hold(k)) for key in ("a", "b")]
    for thread in threads:
        thread.join(JOIN)
    assert failures == []


def test_waiting_for_a_busy_key_times_out_with_the_documented_error() -> None:
    lock = _lock(FakeSharedLock(), wait_timeout=0.1)
    inside = threading.Event()
    let_go = threading.Event()

    def holder() -> None:
        with lock.hold("k"):
            inside.set()
            let_go.wait(JOIN)

    thread = _run(holder)
    assert inside.wait(JOIN)
    try:
        with pytest.raises(TokenStoreLockTimeoutError) as caught, lock.hold("k"):
            pass
    finally:
        let_go.set()
        thread.join(JOIN)
    assert caught.value.store == "fake"
    assert caught.value.key == "k"
    assert caught.value.waited == pytest.approx(0.1)
    assert "Retry the task" in str(caught.value)
