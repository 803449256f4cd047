"""
SQL dialects of SqlDestination: identifier quoting, column types, reading a table's columns, bulk insert, merge.

:class:`SqlDialect` is generic SQL that most databases reached through ``DbApiHook`` accept (ANSI quoting,
``information_schema``, ``executemany``, merge as delete + insert). :class:`PostgresDialect` adds ``JSONB``,
``COPY`` and ``INSERT … ON CONFLICT``. Another database follows by subclassing and adding itself to
:data:`DIALECTS` under its ``DbApiHook.dialect_name``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Logical kinds of a record's top-level values; "any" is a column of a type we do not check.
KINDS = ("bool", "int", "float", "str", "json")


def kind_of(value: Any) -> str | None:
    """The logical kind of a value; ``None`` for null (fits any column)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "json"


def fits(value_kind: str, column_kind: str) -> bool:
    """Whether a value of ``value_kind`` may go into a column of ``column_kind``."""
    return column_kind in ("any", "json", value_kind) or (value_kind == "int" and column_kind == "float")


def to_db(value: Any, column_kind: str) -> Any:
    """A record value as the driver should receive it (nested values and JSON columns as JSON text)."""
    if value is None:
        return None
    if column_kind == "json" or isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


@dataclass(frozen=True)
class Merge:
    """One merge of a staging table into its target: the staged columns, the key, the sequence column."""

    target: str
    staging: str
    columns: Sequence[str]
    key: Sequence[str]
    seq: str
    unique_key: bool
    """Whether the target holds a unique constraint on exactly ``key`` (a native upsert may use it)."""


class SqlDialect:
    """Generic SQL; subclass for a database's faster or native statements."""

    types = {"bool": "BOOLEAN", "int": "BIGINT", "float": "DOUBLE PRECISION", "str": "TEXT", "json": "TEXT"}
    kinds_by_type = {
        "boolean": "bool",
        "bigint": "int",
        "integer": "int",
        "smallint": "int",
        "double precision": "float",
        "real": "float",
        "numeric": "float",
        "text": "str",
        "character varying": "str",
        "character": "str",
        "varchar": "str",
    }

    def __init__(self, placeholder: str = "%s") -> None:
        self.placeholder = placeholder

    def quote(self, identifier: str) -> str:
        """A quoted identifier (any text is safe: embedded quotes are doubled)."""
        if not identifier or "\x00" in identifier:
            raise ValueError(f"invalid SQL identifier {identifier!r}")
        return '"' + identifier.replace('"', '""') + '"'

    def qualified(self, schema: str | None, table: str) -> str:
        return f"{self.quote(schema)}.{self.quote(table)}" if schema else self.quote(table)

    def column_type(self, kind: str) -> str:
        return self.types[kind]

    def fits(self, value_kind: str, column_kind: str) -> bool:
        """:func:`fits`; where JSON is stored as text, a text column also takes nested values."""
        json_as_text = self.types["json"] == self.types["str"]
        return fits(value_kind, column_kind) or (json_as_text and value_kind == "json" and column_kind == "str")

    def kind_of_type(self, db_type: str) -> str:
        return self.kinds_by_type.get(db_type.lower().split("(")[0].strip(), "any")

    def columns(self, cursor: Any, schema: str | None, table: str) -> dict[str, str] | None:
        """``{column: db type}`` of an existing table in order, or ``None`` when it does not exist."""
        where = f"table_name = {self.placeholder}"
        if schema:
            where += f" AND table_schema = {self.placeholder}"
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns "  # noqa: S608 - placeholders only
            f"WHERE {where} ORDER BY ordinal_position",
            (table, schema) if schema else (table,),
        )
        rows = cursor.fetchall()
        return {str(name): str(db_type) for name, db_type in rows} if rows else None

    def begin(self, cursor: Any) -> None:
        """Start the commit's transaction explicitly where the driver would run DDL outside it (generic: no-op)."""
        return None

    def widen(self, cursor: Any, table: str, column: str, db_type: str) -> None:
        """Change a column's type (an int column of this run's staging table that receives a float)."""
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN {self.quote(column)} TYPE {db_type}")

    def has_unique_key(self, cursor: Any, schema: str | None, table: str, key: Sequence[str]) -> bool:
        """Whether ``key`` is exactly the table's primary key or a unique constraint (generic: assume not)."""
        return False

    def insert(self, cursor: Any, target: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        names = ", ".join(self.quote(c) for c in columns)
        marks = ", ".join([self.placeholder] * len(columns))
        cursor.executemany(f"INSERT INTO {target} ({names}) VALUES ({marks})", rows)  # noqa: S608 - quoted

    def dedupe(self, cursor: Any, staging: str, key: Sequence[str], seq: str) -> None:
        """Keep only the last row (highest ``seq``) of each key in the staging table."""
        keys = ", ".join(self.quote(k) for k in key)
        cursor.execute(
            f"DELETE FROM {staging} WHERE {self.quote(seq)} NOT IN "  # noqa: S608 - quoted
            f"(SELECT MAX({self.quote(seq)}) FROM {staging} GROUP BY {keys})"
        )

    def merge(self, cursor: Any, plan: Merge) -> int:
        """Upsert the staging rows into the target on the plan's key; returns the rows written."""
        key, target = plan.key, plan.target
        self.dedupe(cursor, plan.staging, key, plan.seq)
        match = " AND ".join(f"{target}.{self.quote(k)} = s.{self.quote(k)}" for k in key)
        cursor.execute(f"DELETE FROM {target} WHERE EXISTS (SELECT 1 FROM {plan.staging} s WHERE {match})")  # noqa: S608
        return self.copy_rows(cursor, target, plan.staging, plan.columns)

    def copy_rows(self, cursor: Any, target: str, staging: str, columns: Sequence[str]) -> int:
        names = ", ".join(self.quote(c) for c in columns)
        cursor.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM {staging}")  # noqa: S608 - quoted
        return int(cursor.rowcount)


class PostgresDialect(SqlDialect):
    """PostgreSQL: ``JSONB`` for nested values, ``COPY`` into staging, ``INSERT … ON CONFLICT`` for merge."""

    types = {**SqlDialect.types, "json": "JSONB"}
    kinds_by_type = {**SqlDialect.kinds_by_type, "json": "json", "jsonb": "json"}

    def columns(self, cursor: Any, schema: str | None, table: str) -> dict[str, str] | None:
        """Resolved like the statements resolve it (``search_path``), with exact types (``format_type``)."""
        cursor.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (self.qualified(schema, table),),
        )
        rows = cursor.fetchall()
        return {str(name): str(db_type) for name, db_type in rows} if rows else None

    def has_unique_key(self, cursor: Any, schema: str | None, table: str, key: Sequence[str]) -> bool:
        cursor.execute(
            "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indpred IS NULL GROUP BY i.indexrelid",
            (self.qualified(schema, table),),
        )
        wanted = sorted(key)
        return any(sorted(row[0]) == wanted for row in cursor.fetchall())

    def insert(self, cursor: Any, target: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        names = ", ".join(self.quote(c) for c in columns)
        statement = f"COPY {target} ({names}) FROM STDIN"
        if hasattr(cursor, "copy"):  # psycopg 3
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        elif hasattr(cursor, "copy_expert"):  # psycopg2
            cursor.copy_expert(statement, io.StringIO("".join(_copy_text_line(row) for row in rows)))
        else:
            super().insert(cursor, target, columns, rows)

    def merge(self, cursor: Any, plan: Merge) -> int:
        if not plan.unique_key:
            return super().merge(cursor, plan)
        columns, key, seq = plan.columns, plan.key, plan.seq
        names = ", ".join(self.quote(c) for c in columns)
        keys = ", ".join(self.quote(k) for k in key)
        updates = ", ".join(f"{self.quote(c)} = EXCLUDED.{self.quote(c)}" for c in columns if c not in key)
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        cursor.execute(
            f"INSERT INTO {plan.target} ({names}) SELECT DISTINCT ON ({keys}) {names} FROM {plan.staging} "  # noqa: S608
            f"ORDER BY {keys}, {self.quote(seq)} DESC ON CONFLICT ({keys}) {action}"
        )
        return int(cursor.rowcount)


class SqliteDialect(SqlDialect):
    """SQLite: ``PRAGMA table_info`` instead of ``information_schema``; columns are not retyped (SQLite is untyped)."""

    def columns(self, cursor: Any, schema: str | None, table: str) -> dict[str, str] | None:
        prefix = f"{self.quote(schema)}." if schema else ""
        cursor.execute(f"PRAGMA {prefix}table_info({self.quote(table)})")
        rows = cursor.fetchall()
        return {str(row[1]): str(row[2]) for row in rows} if rows else None

    def widen(self, cursor: Any, table: str, column: str, db_type: str) -> None:
        return None

    def begin(self, cursor: Any) -> None:
        cursor.execute("BEGIN")  # Python's sqlite3 would run CREATE/ALTER TABLE outside the transaction


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_text_line(row: tuple[Any, ...]) -> str:
    return "\t".join(_copy_text(v) for v in row) + "\n"


DIALECTS: dict[str, type[SqlDialect]] = {
    "postgresql": PostgresDialect,
    "postgres": PostgresDialect,
    "sqlite": SqliteDialect,
}


def dialect_for(hook: Any) -> SqlDialect:
    """The dialect of a ``DbApiHook`` (generic SQL for a database without its own)."""
    name = str(getattr(hook, "dialect_name", "") or "").lower()
    placeholder = str(getattr(hook, "placeholder", "%s") or "%s")
    return DIALECTS.get(name, SqlDialect)(placeholder)
