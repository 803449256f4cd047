"""
SqlDestination: a run's records into a table through any SQL connection's ``DbApiHook``, in one transaction.

Pages go into a staging table as they arrive (committed per page, so memory holds one page). The commit is one
transaction: create the target when absent, add new columns, then append / replace (delete + insert) / merge
(upsert on ``primary_key``) from staging, and drop staging. A failure anywhere rolls it back: the target is
exactly as it was. Top-level scalar fields become columns of the same name; nested values are JSON.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from airflow_oauth_connector.destinations.base import RunKey
from airflow_oauth_connector.destinations.sql_dialects import Merge, SqlDialect, dialect_for, kind_of, to_db
from airflow_oauth_connector.exceptions import DestinationError, DestinationSchemaError, DestinationUnavailableError

log = logging.getLogger(__name__)

WRITES = ("append", "replace", "merge")
SEQ = "_oc_seq"


def split_table(table: str) -> tuple[str | None, str]:
    """``"schema.table"`` → ``("schema", "table")``; ``"table"`` → ``(None, "table")``."""
    schema, _, name = table.rpartition(".")
    if not name:
        raise ValueError(f"invalid table name {table!r}")
    return (schema or None), name


class SqlDestination:
    """
    Land records into ``table`` of the SQL connection ``conn_id``.

    :param conn_id: any Airflow connection whose hook is a ``DbApiHook`` (PostgreSQL, MySQL, …).
    :param table: ``"table"`` or ``"schema.table"`` (templated); created when absent.
    :param write: ``"append"``, ``"replace"`` (the run's records replace the table's rows) or ``"merge"``
        (upsert on ``primary_key``; the last record of a key within a run wins).
    :param primary_key: column(s) identifying a record; required by ``merge``; used as the primary key of a
        table this destination creates.
    """

    template_fields: tuple[str, ...] = ("table",)

    def __init__(
        self,
        conn_id: str,
        table: str,
        write: str = "append",
        primary_key: Sequence[str] | str | None = None,
    ) -> None:
        if write not in WRITES:
            raise ValueError(f"write must be one of {', '.join(WRITES)}, not {write!r}")
        keys = [primary_key] if isinstance(primary_key, str) else list(primary_key or [])
        if write == "merge" and not keys:
            raise ValueError("write='merge' needs primary_key")
        self.conn_id = conn_id
        self.table = table
        self.write = write
        self.primary_key = keys

    def __repr__(self) -> str:
        return f"SqlDestination(conn_id={self.conn_id!r}, table={self.table!r}, write={self.write!r})"

    def describe(self) -> str:
        return f"SQL table {self.table!r} (connection {self.conn_id!r})"

    def open(self, run: RunKey) -> SqlLoad:
        return SqlLoad(self, run)


def _hook(conn_id: str) -> Any:
    from airflow.sdk import BaseHook

    hook = BaseHook.get_hook(conn_id)
    if not hasattr(hook, "get_conn") or not hasattr(hook, "placeholder"):
        raise TypeError(f"the hook of connection {conn_id!r} ({type(hook).__name__}) is not a DbApiHook")
    return hook


class SqlLoad:
    """One try's load: a staging table filled page by page, merged into the target in one transaction."""

    def __init__(self, destination: SqlDestination, run: RunKey) -> None:
        self.destination = destination
        self.name = destination.describe()
        self.schema, self.table = split_table(destination.table)
        self.rows = 0
        try:
            self.hook = _hook(destination.conn_id)
            self.dialect: SqlDialect = dialect_for(self.hook)
            self.conn = self.hook.get_conn()
            self._set_autocommit(False)
            self.target = self.dialect.qualified(self.schema, self.table)
            self.staging_name = _staging_name(self.table, run)
            self.staging = self.dialect.qualified(self.schema, self.staging_name)
            with self._cursor() as cur:
                self.existing = self.dialect.columns(cur, self.schema, self.table)
                for earlier in range(1, run.try_number + 1):
                    stale = self.dialect.qualified(self.schema, _staging_name(self.table, run, earlier))
                    cur.execute(f"DROP TABLE IF EXISTS {stale}")
                cur.execute(f"CREATE TABLE {self.staging} ({self.dialect.quote(SEQ)} BIGINT NOT NULL)")
            self.conn.commit()
        except DestinationError:
            raise
        except Exception as exc:
            self._close()
            raise DestinationUnavailableError(self.name, f"{type(exc).__name__}: {str(exc).strip()}") from None
        #: column → logical kind: the target's columns, then those this run adds
        self.kinds: dict[str, str] = {c: self.dialect.kind_of_type(t) for c, t in (self.existing or {}).items()}
        self.db_types: dict[str, str] = dict(self.existing or {})
        self.staged: list[str] = []
        self.new_columns: list[str] = []
        self._check_key_columns()

    def _set_autocommit(self, on: bool) -> None:
        try:
            self.hook.set_autocommit(self.conn, on)
        except Exception:  # a driver without the attribute (sqlite3) is transactional already
            with contextlib.suppress(Exception):
                self.conn.autocommit = on

    def _cursor(self) -> Any:
        from contextlib import closing

        return closing(self.conn.cursor())

    def _check_key_columns(self) -> None:
        if self.existing is None:
            return
        for key in self.destination.primary_key:
            if key not in self.existing and self.destination.write == "merge":
                self.abort()
                raise DestinationSchemaError(self.name, key, "the primary key column is not in the existing table")

    def _add_column(self, cur: Any, name: str, kind: str) -> None:
        db_type = self.db_types.get(name) or self.dialect.column_type(kind)
        cur.execute(f"ALTER TABLE {self.staging} ADD COLUMN {self.dialect.quote(name)} {db_type}")
        self.staged.append(name)
        if name not in self.kinds:
            self.kinds[name] = kind
            self.db_types[name] = db_type
            self.new_columns.append(name)

    def _widen(self, cur: Any, name: str) -> None:
        """An int column this run created gets a float: it becomes a float column."""
        db_type = self.dialect.column_type("float")
        self.dialect.widen(cur, self.staging, name, db_type)
        self.kinds[name] = "float"
        self.db_types[name] = db_type

    def _fit_columns(self, cur: Any, records: list[Any]) -> None:
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                raise DestinationSchemaError(self.name, "<record>", f"record {self.rows + index} is not an object")
            for key in self.destination.primary_key:
                if record.get(key) is None:
                    raise DestinationSchemaError(self.name, key, "a record has no value for the primary key")
            for name, value in record.items():
                kind = kind_of(value)
                if kind is None:
                    continue
                known = self.kinds.get(name)
                if known is None or name not in self.staged:
                    self._add_column(cur, name, known or kind)
                    known = self.kinds[name]
                if self.dialect.fits(kind, known):
                    continue
                if known == "int" and kind == "float" and name in self.new_columns:
                    self._widen(cur, name)
                    continue
                raise DestinationSchemaError(self.name, name, f"a {kind} value for a {known} column")

    def write(self, records: list[Any]) -> None:
        if not records:
            return
        try:
            with self._cursor() as cur:
                self._fit_columns(cur, records)
                columns = [SEQ, *self.staged]
                kinds = [self.kinds[c] for c in self.staged]
                rows = [
                    (self.rows + i, *(to_db(r.get(c), k) for c, k in zip(self.staged, kinds, strict=True)))
                    for i, r in enumerate(records)
                ]
                self.dialect.insert(cur, self.staging, columns, rows)
            self.conn.commit()
        except DestinationError:
            self.conn.rollback()
            raise
        except Exception as exc:
            self.conn.rollback()
            raise DestinationError(f"{self.name}: writing to the staging table failed: {exc}") from exc
        self.rows += len(records)

    def _create_target(self, cur: Any) -> None:
        columns = [f"{self.dialect.quote(c)} {self.db_types[c]}" for c in self.staged]
        keys = [k for k in self.destination.primary_key if k in self.staged]
        if keys and len(keys) == len(self.destination.primary_key):
            columns.append("PRIMARY KEY (" + ", ".join(self.dialect.quote(k) for k in keys) + ")")
        if not columns:
            columns = [f"{self.dialect.quote(SEQ)} BIGINT"]
        cur.execute(f"CREATE TABLE {self.target} ({', '.join(columns)})")

    def commit(self) -> dict[str, Any]:
        write = self.destination.write
        try:
            with self._cursor() as cur:
                self.dialect.begin(cur)
                if self.existing is None:
                    self._create_target(cur)
                else:
                    for name in self.new_columns:
                        q = self.dialect.quote(name)
                        cur.execute(f"ALTER TABLE {self.target} ADD COLUMN {q} {self.db_types[name]}")
                written = 0
                if write == "replace":
                    cur.execute(f"DELETE FROM {self.target}")  # noqa: S608 - quoted identifier
                if self.staged and self.rows:
                    if write == "merge":
                        unique = self.existing is None or self.dialect.has_unique_key(
                            cur, self.schema, self.table, self.destination.primary_key
                        )
                        plan = Merge(self.target, self.staging, self.staged, self.destination.primary_key, SEQ, unique)
                        written = self.dialect.merge(cur, plan)
                    else:
                        written = self.dialect.copy_rows(cur, self.target, self.staging, self.staged)
                cur.execute(f"DROP TABLE {self.staging}")
            self.conn.commit()
        except Exception as exc:
            self.abort()
            raise DestinationError(f"{self.name}: the load was rolled back, the table is unchanged: {exc}") from exc
        self._close()
        return {"table": self.destination.table, "write": write, "rows_written": written}

    def abort(self) -> None:
        try:
            self.conn.rollback()
            with self._cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {self.staging}")
            self.conn.commit()
        except Exception as exc:
            log.warning("Could not drop the staging table %s: %s", self.staging_name, exc)
        self._close()

    def _close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                conn.close()
            self.conn = None


def _staging_name(table: str, run: RunKey, try_number: int | None = None) -> str:
    """Deterministic per try, short enough for any database's identifier limit (≤ 40 characters)."""
    tries = run.try_number if try_number is None else try_number
    digest = hashlib.sha256(f"{run.folder}|{table}".encode()).hexdigest()[:10]
    return f"_oc_stage_{table[:16]}_{digest}_{tries}"
