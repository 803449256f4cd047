"""SqlDestination through a real DbApiHook on SQLite (the generic dialect path: executemany, delete + insert)."""

from __future__ import annotations

import sqlite3

import pytest
from airflow.providers.common.sql.hooks.sql import DbApiHook

from airflow_oauth_connector.destinations import RunKey, SqlDestination
from airflow_oauth_connector.destinations import sql as sql_module
from airflow_oauth_connector.exceptions import DestinationSchemaError, DestinationUnavailableError

pytestmark = pytest.mark.timeout(60)

RUN = RunKey("dag", "task", "run-1")


class SqliteFileHook(DbApiHook):
    """A DbApiHook on a SQLite file (no Airflow connection needed)."""

    conn_name_attr = "sqlite_conn_id"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def get_conn(self):
        return sqlite3.connect(self.path)

    @property
    def dialect_name(self) -> str:
        return "sqlite"

    @property
    def placeholder(self) -> str:
        return "?"


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = str(tmp_path / "db.sqlite")
    monkeypatch.setattr(sql_module, "_hook", lambda conn_id: SqliteFileHook(path))

    def query(statement: str) -> list[tuple]:
        with sqlite3.connect(path) as conn:
            return conn.execute(statement).fetchall()

    return query


def recs(start: int, n: int, **extra) -> list[dict]:
    return [{"id": i, "name": f"r{i}", "score": i * 0.5, "meta": {"k": i}, **extra} for i in range(start, start + n)]


def load(destination: SqlDestination, *pages: list[dict], run: RunKey = RUN) -> dict:
    current = destination.open(run)
    for p in pages:
        current.write(p)
    return current.commit()


def tables(db) -> list[str]:
    return [r[0] for r in db("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def test_append_creates_the_table_and_nested_values_are_json(db):
    manifest = load(SqlDestination("x", "items"), recs(1, 5), recs(6, 5))
    assert manifest == {"table": "items", "write": "append", "rows_written": 10}
    assert db("SELECT id, name, meta FROM items WHERE id = 7") == [(7, "r7", '{"k":7}')]
    load(SqlDestination("x", "items"), recs(11, 2))
    assert db("SELECT COUNT(*) FROM items") == [(12,)]
    assert tables(db) == ["items"]


def test_nothing_is_in_the_target_before_commit_and_abort_drops_staging(db):
    current = SqlDestination("x", "items").open(RUN)
    current.write(recs(1, 3))
    assert "items" not in tables(db)
    current.abort()
    assert tables(db) == []


def test_replace(db):
    load(SqlDestination("x", "items", write="replace"), recs(1, 10))
    load(SqlDestination("x", "items", write="replace"), recs(100, 2))
    assert db("SELECT id FROM items ORDER BY id") == [(100,), (101,)]


def test_merge_upserts_and_the_last_record_of_a_key_wins(db):
    dest = SqlDestination("x", "items", write="merge", primary_key=["id"])
    load(dest, recs(1, 5))
    changed = [{"id": 4, "name": "first"}, {"id": 4, "name": "last"}, {"id": 9, "name": "new"}]
    manifest = load(dest, changed)
    assert manifest["rows_written"] == 2
    assert db("SELECT id, name FROM items ORDER BY id")[-3:] == [(4, "last"), (5, "r5"), (9, "new")]


def test_merge_needs_a_key_value(db):
    current = SqlDestination("x", "items", write="merge", primary_key="id").open(RUN)
    with pytest.raises(DestinationSchemaError, match="'id'"):
        current.write([{"name": "no id"}])
    current.abort()


def test_new_field_is_added_and_int_widens_to_float_within_a_run(db):
    load(SqlDestination("x", "items"), recs(1, 2))
    load(SqlDestination("x", "items"), recs(3, 1, tier="gold", level=1), [{"id": 4, "level": 1.5}])
    assert db("SELECT id, tier, level FROM items ORDER BY id") == [
        (1, None, None),
        (2, None, None),
        (3, "gold", 1.0),
        (4, None, 1.5),
    ]


def test_type_conflict_names_the_field_and_leaves_the_table(db):
    load(SqlDestination("x", "items"), recs(1, 2))
    current = SqlDestination("x", "items").open(RUN)
    current.write(recs(3, 2))
    with pytest.raises(DestinationSchemaError, match=r"field 'score': a str value for a float column"):
        current.write([{"id": 5, "score": "high"}])
    current.abort()
    assert db("SELECT COUNT(*) FROM items") == [(2,)]
    assert tables(db) == ["items"]


def test_a_failing_commit_rolls_everything_back(db, monkeypatch):
    load(SqlDestination("x", "items"), recs(1, 2))
    current = SqlDestination("x", "items", write="replace").open(RUN)
    current.write(recs(3, 2, extra="new column"))

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(current.dialect, "copy_rows", broken)
    with pytest.raises(Exception, match="rolled back, the table is unchanged"):
        current.commit()
    assert db("SELECT id FROM items") == [(1,), (2,)]
    assert [c[1] for c in db("PRAGMA table_info(items)")] == ["id", "name", "score", "meta"]
    assert tables(db) == ["items"]


def test_unreachable_database_is_named(monkeypatch):
    def no_connection(conn_id):
        raise LookupError(f"The conn_id `{conn_id}` isn't defined")

    monkeypatch.setattr(sql_module, "_hook", no_connection)
    with pytest.raises(DestinationUnavailableError, match="SQL table 'items' \\(connection 'nope'\\)"):
        SqlDestination("nope", "items").open(RUN)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="needs primary_key"):
        SqlDestination("x", "t", write="merge")
    with pytest.raises(ValueError, match="write must be one of"):
        SqlDestination("x", "t", write="upsert")
