"""The token-store contract (tests/support/store_contract.py) on the in-process backends: memory and file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_oauth_connector.store import MemoryTokenStore
from airflow_oauth_connector.store.file import FileTokenStore
from tests.support.store_contract import StoreContract


class TestMemoryTokenStore(StoreContract):
    @pytest.fixture
    def make_store(self) -> Callable[[], Any]:
        store = MemoryTokenStore()  # one process's store: every caller shares the object
        return lambda: store


class TestFileTokenStore(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Callable[[], Any]:
        return lambda: FileTokenStore(tmp_path / "tokens", wait_timeout=5)
