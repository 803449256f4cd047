"""The TokenStore protocol: every shipped backend implements it, status included; anything else is refused loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_oauth_connector.exceptions import TokenStoreError
from airflow_oauth_connector.status import StatusRecord
from airflow_oauth_connector.store.base import STORE_METHODS, TokenStore, require_store
from airflow_oauth_connector.store.file import FileTokenStore
from airflow_oauth_connector.store.memory import MemoryTokenStore
from airflow_oauth_connector.store.redis import RedisTokenStore
from airflow_oauth_connector.store.variables import VariableTokenStore
from airflow_oauth_connector.token import Token


class TokensOnly:
    """A store of an older design: tokens but no status records."""

    def load(self, key: str) -> Token | None:
        return None

    def save(self, key: str, token: Token) -> None:
        return None

    def delete(self, key: str) -> None:
        return None

    def lock(self, key: str) -> object:
        return object()


class WithStatus(TokensOnly):
    def load_status(self, key: str) -> StatusRecord | None:
        return None

    def save_status(self, key: str, status: StatusRecord) -> None:
        return None

    def clear_status(self, key: str) -> None:
        return None


def test_the_protocol_names_every_method_a_store_needs() -> None:
    assert set(STORE_METHODS) == {name for name in vars(TokenStore) if not name.startswith("_")}


def test_every_shipped_backend_is_a_token_store(tmp_path: Path) -> None:
    stores = [
        MemoryTokenStore(),
        FileTokenStore(tmp_path / "tokens"),
        RedisTokenStore("redis://127.0.0.1:1/0"),  # its client connects on first use, never here
        VariableTokenStore(),
    ]
    for store in stores:
        assert require_store(store) is store


def test_a_store_of_ones_own_with_status_is_accepted() -> None:
    store = WithStatus()
    assert require_store(store) is store


def test_a_store_without_status_is_refused_naming_what_it_lacks() -> None:
    with pytest.raises(TokenStoreError, match="TokensOnly is not a token store") as caught:
        require_store(TokensOnly())
    assert "load_status, save_status, clear_status" in str(caught.value)
    assert "implement airflow_oauth_connector.store.TokenStore" in str(caught.value)
    with pytest.raises(TokenStoreError, match="it lacks load, save, delete, lock"):
        require_store(object())
