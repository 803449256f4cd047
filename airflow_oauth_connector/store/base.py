"""The token-store interface that every backend (memory, file, Redis, Variables) implements, status included."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from airflow_oauth_connector.exceptions import TokenStoreError
from airflow_oauth_connector.status import StatusRecord
from airflow_oauth_connector.token import Token

#: The methods a token store must have (checked by :func:`require_store`).
STORE_METHODS = ("load", "save", "delete", "lock", "load_status", "save_status", "clear_status")


@runtime_checkable
class TokenStore(Protocol):
    """
    Keeps tokens and their status records by key, and serialises refreshes of one key.

    ``lock(key)`` must exclude every other holder of the same key that shares the store (threads of a
    process for the memory store; processes and hosts for shared stores), so that exactly one of them
    asks the token endpoint while the others wait and then read what it saved.

    The status slot of a key holds one :data:`~airflow_oauth_connector.status.StatusRecord`: a profile's
    :class:`~airflow_oauth_connector.status.TokenStatus` under its cache key (shown by the OAuth profiles
    page and the CLI), or a deferred call's at-most-once
    :class:`~airflow_oauth_connector.status.CallMarker` under the call's marker key. Every store keeps
    them (there is no silent skip): a store that cannot is refused by :func:`require_store`.
    """

    def load(self, key: str) -> Token | None: ...

    def save(self, key: str, token: Token) -> None: ...

    def delete(self, key: str) -> None: ...

    def lock(self, key: str) -> AbstractContextManager[object]: ...

    def load_status(self, key: str) -> StatusRecord | None: ...

    def save_status(self, key: str, status: StatusRecord) -> None: ...

    def clear_status(self, key: str) -> None: ...


TokenStatusStore = TokenStore
"""Old name of the status part of :class:`TokenStore` (status is part of every store now)."""


def require_store(store: object) -> TokenStore:
    """``store`` if it implements :class:`TokenStore` (status included), else :class:`TokenStoreError`."""
    if isinstance(store, TokenStore):
        return store
    missing = [name for name in STORE_METHODS if not callable(getattr(store, name, None))]
    raise TokenStoreError(
        f"{type(store).__name__} is not a token store: it lacks {', '.join(missing)}. A token store keeps "
        f"tokens and status records (the OAuth profiles page and the deferrable trigger's at-most-once "
        f"marker need them): implement airflow_oauth_connector.store.TokenStore"
    )
