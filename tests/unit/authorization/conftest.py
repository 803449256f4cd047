"""The authorization tests' metadata DB (Airflow's connection table alone) and a file token store of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_oauth_connector.store.factory import clear_store_cache
from tests.support.connection_table import connection_table


@pytest.fixture(autouse=True)
def _file_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The file token store in a temporary directory (saved authorizations reach a real store)."""
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE", "file")
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__TOKEN_DIRECTORY", str(tmp_path / "tokens"))
    clear_store_cache()
    yield
    clear_store_cache()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[None]:
    """A metadata DB of Airflow's connection table alone (temporary SQLite, no migration)."""
    with connection_table(tmp_path / "connections.db"):
        yield
