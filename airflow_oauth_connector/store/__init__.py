"""Token stores: where obtained tokens (and their status records) live between requests, tasks and processes."""

from __future__ import annotations

from airflow_oauth_connector.exceptions import TokenStoreError, TokenStoreLockTimeout, TokenStoreLockTimeoutError
from airflow_oauth_connector.store.base import TokenStatusStore, TokenStore, require_store
from airflow_oauth_connector.store.codec import TokenCodec
from airflow_oauth_connector.store.factory import store_for, store_named
from airflow_oauth_connector.store.file import FileTokenStore
from airflow_oauth_connector.store.memory import MemoryTokenStore
from airflow_oauth_connector.store.redis import RedisTokenStore
from airflow_oauth_connector.store.variables import VariableTokenStore

__all__ = [
    "FileTokenStore",
    "MemoryTokenStore",
    "RedisTokenStore",
    "TokenCodec",
    "TokenStatusStore",
    "TokenStore",
    "TokenStoreError",
    "TokenStoreLockTimeout",
    "TokenStoreLockTimeoutError",
    "VariableTokenStore",
    "require_store",
    "store_for",
    "store_named",
]
