"""Token-store locks: one re-entrant in-process lock per key, and the two-level (in-process, cross-process) lock."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from airflow_oauth_connector.exceptions import TokenStoreLockTimeoutError

H = TypeVar("H")


class KeyedLocks:
    """One re-entrant in-process lock per key (threads of a process queue here, not on the shared lock)."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.RLock] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())


class TwoLevelLock(Generic[H]):
    """
    A per-key lock in two levels: a re-entrant in-process lock, then the store's cross-process lock.

    Threads of one process queue on the in-process lock, so the process holds at most one cross-process
    lock per key (``acquire(key, deadline)`` / ``release(handle)``), taken on the outermost entry and
    released on the outermost exit. Waiting is bounded by ``wait_timeout`` in all.
    """

    def __init__(
        self,
        backend: str,
        wait_timeout: float,
        acquire: Callable[[str, float], H],
        release: Callable[[H], None],
    ) -> None:
        self.backend = backend
        self.wait_timeout = wait_timeout
        self._acquire = acquire
        self._release = release
        self._locks = KeyedLocks()
        self._held: dict[str, tuple[H, int]] = {}  # key -> (handle, depth); touched only by the RLock owner

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        deadline = time.monotonic() + self.wait_timeout
        local = self._locks.get(key)
        if not local.acquire(timeout=max(self.wait_timeout, 0.0)):
            raise TokenStoreLockTimeoutError(self.backend, key, self.wait_timeout)
        try:
            entry = self._held.get(key)
            handle, depth = entry if entry is not None else (self._acquire(key, deadline), 0)
            self._held[key] = (handle, depth + 1)
            try:
                yield
            finally:
                handle, depth = self._held[key]
                if depth == 1:
                    del self._held[key]
                    self._release(handle)
                else:
                    self._held[key] = (handle, depth - 1)
        finally:
            local.release()
