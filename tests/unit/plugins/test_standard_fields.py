"""The unused port of an oauth_connector connection is 0 to Airflow's ORM: saved as 0, a stored null read as 0."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_oauth_connector.plugins import standard_fields
from tests.support.connection_table import add_connection, connection_table


@pytest.fixture
def convention(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The convention installed on a connection table of its own; removed again afterwards."""
    from airflow.models.connection import Connection
    from sqlalchemy import event

    monkeypatch.setattr(standard_fields, "_installed", False)
    with connection_table(tmp_path / "connections.db"):
        assert standard_fields.install() is True
        try:
            yield
        finally:
            event.remove(Connection, "load", standard_fields._loaded)
            event.remove(Connection, "refresh", standard_fields._loaded)
            event.remove(Connection, "before_insert", standard_fields._saving)
            event.remove(Connection, "before_update", standard_fields._saving)


def _port(conn_id: str) -> tuple[int | None, int | None]:
    """(what the ORM reads, what the row holds) for the connection's port."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select, text

    with create_session() as session:
        raw = session.execute(text("SELECT port FROM connection WHERE conn_id = :c"), {"c": conn_id}).scalar()
        conn = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
        assert conn is not None
        return conn.port, raw


def test_a_new_oauth_connection_is_stored_with_port_0(convention: None) -> None:
    conn_id = add_connection({"grant_type": "client_credentials"})
    assert _port(conn_id) == (0, 0)


def test_a_stored_null_port_is_read_as_0_without_a_write(convention: None) -> None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select, text

    conn_id = add_connection({"grant_type": "client_credentials"})
    with create_session() as session:
        session.execute(text("UPDATE connection SET port = NULL WHERE conn_id = :c"), {"c": conn_id})
    with create_session() as session:
        conn = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
        assert conn is not None
        assert conn.port == 0
        assert not session.dirty  # read as 0, not a change to flush
    assert _port(conn_id) == (0, None)


def test_other_connection_types_keep_a_null_port(convention: None) -> None:
    conn_id = add_connection({"foo": "bar"}, conn_type="smtp")
    assert _port(conn_id) == (None, None)


def test_install_is_once_per_process(convention: None) -> None:
    assert standard_fields.install() is False
