"""
Airflow's ``connection`` table alone, in a temporary SQLite file, as the metadata DB of unit tests (no migration).

:func:`connection_table` binds Airflow's ``settings.Session`` to it for the duration, so code that opens its own
session (``create_session``) and code that is given one both reach it; :func:`add_connection` and
:func:`stored_extra` write and read rows the way the api-server would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def connection_table(path: Path) -> Iterator[None]:
    """The metadata DB is ``path`` (a new SQLite file holding only the ``connection`` table) while inside."""
    from airflow import settings
    from airflow.models import Connection
    from sqlalchemy import create_engine
    from sqlalchemy.orm import scoped_session, sessionmaker

    engine = create_engine(f"sqlite:///{path}")
    Connection.__table__.create(engine)  # type: ignore[attr-defined]
    session = scoped_session(sessionmaker(bind=engine, expire_on_commit=False))
    saved = settings.Session
    settings.Session = session
    try:
        yield
    finally:
        settings.Session = saved
        session.remove()
        engine.dispose()


def add_connection(
    extra: dict[str, Any], *, conn_type: str = "oauth_connector", password: str = "client-secret", prefix: str = "c"
) -> str:
    """A new stored connection (host https://api.example.com, login client-1) with ``extra``; its id."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    conn_id = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with create_session() as session:
        session.add(
            Connection(
                conn_id=conn_id,
                conn_type=conn_type,
                host="https://api.example.com",
                login="client-1",
                password=password,
                extra=json.dumps(extra),
            )
        )
    return conn_id


def stored_extra(conn_id: str, *, password: str | None = None) -> dict[str, Any]:
    """The stored connection's extra, decrypted (read back through the ORM, as Airflow reads it); with
    ``password``, asserts that the stored password is still that."""
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        conn = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
        assert conn is not None, conn_id
        if password is not None:
            assert conn.password == password
        return dict(conn.extra_dejson)
