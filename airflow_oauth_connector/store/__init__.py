"""Token stores: where obtained tokens live between requests, tasks and processes."""

from __future__ import annotations

from airflow_oauth_connector.store.base import TokenStore
from airflow_oauth_connector.store.memory import MemoryTokenStore

__all__ = ["MemoryTokenStore", "TokenStore"]
