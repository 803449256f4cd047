"""Token stores: where obtained tokens live between requests, tasks and processes."""

from __future__ import annotations

from airflow_oauth_connector.store.base import TokenStore
from airflow_oauth_connector.store.crypto import TokenCodec, TokenStoreError, TokenStoreLockTimeout
from airflow_oauth_connector.store.factory import TokenStatusStore, store_for, store_named
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
    "VariableTokenStore",
    "store_for",
    "store_named",
]
