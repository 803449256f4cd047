"""In-process token store: one dict shared by every hook of the process, one lock per key."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import ClassVar

from airflow_oauth_connector.status import StatusRecord
from airflow_oauth_connector.token import Token


class MemoryTokenStore:
    """Thread-safe; tokens live as long as the process. ``shared()`` is the process-wide instance."""

    _shared: ClassVar[MemoryTokenStore | None] = None
    _shared_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._statuses: dict[str, StatusRecord] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryTokenStore(keys={len(self._tokens)})"

    @classmethod
    def shared(cls) -> MemoryTokenStore:
        with cls._shared_guard:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def load(self, key: str) -> Token | None:
        with self._guard:
            return self._tokens.get(key)

    def save(self, key: str, token: Token) -> None:
        with self._guard:
            self._tokens[key] = token

    def delete(self, key: str) -> None:
        with self._guard:
            self._tokens.pop(key, None)

    def lock(self, key: str) -> AbstractContextManager[object]:
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())

    def save_status(self, key: str, status: StatusRecord) -> None:
        with self._guard:
            self._statuses[key] = status  # frozen: no copy needed

    def load_status(self, key: str) -> StatusRecord | None:
        with self._guard:
            return self._statuses.get(key)

    def clear_status(self, key: str) -> None:
        with self._guard:
            self._statuses.pop(key, None)
