"""A scratch PostgreSQL schema on 127.0.0.1:5432 (trust) for landing tests and benchmarks; skips when absent."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PG_HOST = os.environ.get("OAUTH_CONNECTOR_IT_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("OAUTH_CONNECTOR_IT_PG_PORT", "5432"))
PG_USER = os.environ.get("OAUTH_CONNECTOR_IT_PG_USER", "postgres")
PG_DB = os.environ.get("OAUTH_CONNECTOR_IT_PG_DB", "postgres")


def pg_uri() -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}"


def unreachable() -> str | None:
    """Why PostgreSQL cannot be used here, or ``None`` when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        psycopg.connect(pg_uri(), connect_timeout=3).close()
    except Exception as exc:
        return f"PostgreSQL at {PG_HOST}:{PG_PORT} is unreachable: {exc}"
    return None


@contextmanager
def scratch_schema(prefix: str = "land") -> Iterator[tuple[str, Any]]:
    """A fresh schema and an autocommit psycopg connection to inspect it; dropped afterwards."""
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(pg_uri(), autocommit=True)
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema, conn
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()
