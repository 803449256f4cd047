"""The authorization tests' metadata DB (Airflow's connection table alone) and a file token store of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.connection_table import connection_table


@pytest.fixture(autouse=True)
def _file_store(file_token_store: Path) -> None:
    """Saved authorizations reach a real store: the file store, in the test's directory."""


@pytest.fixture
def db(tmp_path: Path) -> Iterator[None]:
    """A metadata DB of Airflow's connection table alone (temporary SQLite, no migration)."""
    with connection_table(tmp_path / "connections.db"):
        yield
