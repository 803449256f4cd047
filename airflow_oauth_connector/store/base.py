"""The token-store interface that every backend (memory, file, Redis, Variables) implements."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from airflow_oauth_connector.token import Token


@runtime_checkable
class TokenStore(Protocol):
    """
    Keeps tokens by key, and serialises refreshes of one key.

    ``lock(key)`` must exclude every other holder of the same key that shares the store (threads of a
    process for the memory store; processes and hosts for shared stores), so that exactly one of them
    asks the token endpoint while the others wait and then read what it saved.
    """

    def load(self, key: str) -> Token | None: ...

    def save(self, key: str, token: Token) -> None: ...

    def delete(self, key: str) -> None: ...

    def lock(self, key: str) -> AbstractContextManager[object]: ...
