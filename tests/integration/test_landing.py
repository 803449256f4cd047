"""Landing pages into object storage (file://) and a real PostgreSQL: every strategy, shape changes, failure drills."""

from __future__ import annotations

import gzip
import json
import types
from pathlib import Path

import pytest

from airflow_oauth_connector.destinations import ObjectStorageDestination, SqlDestination
from airflow_oauth_connector.destinations.object_storage import SUCCESS, TMP_FOLDER
from airflow_oauth_connector.exceptions import (
    ApiResponseError,
    DestinationSchemaError,
    DestinationUnavailableError,
)
from airflow_oauth_connector.operators import OAuthConnectorOperator
from airflow_oauth_connector.pagination import OffsetPaginator
from airflow_oauth_connector.store import MemoryTokenStore
from tests.support import postgres
from tests.support.connections import connection

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PG_CONN = "land_pg"
FAST_FAIL = {"max_attempts": 2, "backoff_initial": 0.01, "backoff_max": 0.01}


@pytest.fixture
def cc_conn(monkeypatch, auth_server):
    monkeypatch.setattr(MemoryTokenStore, "_shared", None)
    monkeypatch.setenv("AIRFLOW_CONN_LAND_CC", json.dumps(connection(auth_server)))
    return "land_cc"


@pytest.fixture
def pg(monkeypatch):
    reason = postgres.unreachable()
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv(f"AIRFLOW_CONN_{PG_CONN.upper()}", postgres.pg_uri())
    with postgres.scratch_schema() as (schema, conn):
        yield types.SimpleNamespace(schema=schema, conn=conn)


def ti(try_number: int = 1, run_id: str = "manual__1"):
    return {"ti": types.SimpleNamespace(dag_id="d", task_id="t", run_id=run_id, map_index=-1, try_number=try_number)}


def land(conn_id: str, destination, *, context=None, limit: int = 20, **query):
    op = OAuthConnectorOperator(
        task_id="t",
        oauth_conn_id=conn_id,
        endpoint="records",
        query_params=query,
        pagination=OffsetPaginator(limit=limit, records_path="records", total_path="total"),
        destination=destination,
        retry=FAST_FAIL,
    )
    return op.execute(context or ti())


def read_jsonl(files: list[str]) -> list[dict]:
    out = []
    for url in files:
        raw = Path(url.removeprefix("file://")).read_bytes()
        if url.endswith(".gz"):
            raw = gzip.decompress(raw)
        out.extend(json.loads(line) for line in raw.splitlines())
    return out


def api_calls(server) -> int:
    return server.stats()["api_requests"]["by_path"].get("/api/records", 0)


# ------------------------------------------------------------------------------------------ object storage
@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz"])
def test_object_storage_lands_every_record_in_bounded_parts(cc_conn, tmp_path, fmt):
    dest = ObjectStorageDestination(f"file://{tmp_path}/out", format=fmt, max_part_bytes=4000)
    manifest = land(cc_conn, dest, total=95)
    assert manifest["records"] == 95
    assert manifest["pages"] == 5
    assert len(manifest["files"]) > 2  # parts closed at the size bound
    assert [r["id"] for r in read_jsonl(manifest["files"])] == list(range(1, 96))
    final = tmp_path / "out" / "d.t.manual__1"
    assert manifest["path"] == f"file://{final}"
    assert json.loads((final / SUCCESS).read_text())["records"] == 95
    assert list((tmp_path / "out" / TMP_FOLDER).iterdir()) == []


def test_object_storage_parquet(cc_conn, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    manifest = land(cc_conn, ObjectStorageDestination(f"file://{tmp_path}", format="parquet"), total=45)
    rows = [r for f in manifest["files"] for r in pq.read_table(f.removeprefix("file://")).to_pylist()]
    assert [r["id"] for r in rows] == list(range(1, 46))
    assert rows[0]["address"] == {"city": "city-1", "zip": "10001"}


def test_object_storage_retry_replaces_instead_of_adding(cc_conn, tmp_path):
    dest = ObjectStorageDestination(f"file://{tmp_path}", max_part_bytes=2000)
    first = land(cc_conn, dest, context=ti(1), total=60)
    second = land(cc_conn, dest, context=ti(2), total=30)
    assert first["path"] == second["path"]
    assert [r["id"] for r in read_jsonl(second["files"])] == list(range(1, 31))
    on_disk = sorted(p.name for p in (tmp_path / "d.t.manual__1").iterdir())
    assert on_disk == sorted([SUCCESS, *(Path(f).name for f in second["files"])])


def test_object_storage_api_failure_leaves_nothing_visible(cc_conn, tmp_path, fresh_stats):
    dest = ObjectStorageDestination(f"file://{tmp_path}")
    with pytest.raises(ApiResponseError, match="500"):
        land(cc_conn, dest, total=95, fail_from_offset=40)
    assert api_calls(fresh_stats) == 2 + 2  # two good pages, then the failing one and its retry
    assert sorted(p.name for p in tmp_path.iterdir()) == [TMP_FOLDER]
    assert list((tmp_path / TMP_FOLDER).iterdir()) == []


def test_unwritable_path_fails_before_any_api_call(cc_conn, tmp_path, fresh_stats):
    locked = tmp_path / "locked"
    locked.write_text("a file where the folder should be")
    with pytest.raises(DestinationUnavailableError, match="locked"):
        land(cc_conn, ObjectStorageDestination(f"file://{locked}/out"), total=10)
    assert api_calls(fresh_stats) == 0


# ------------------------------------------------------------------------------------------ PostgreSQL
def sql(pg, table: str, **kwargs) -> SqlDestination:
    return SqlDestination(PG_CONN, f"{pg.schema}.{table}", **kwargs)


def rows(pg, table: str, columns: str = "id, name") -> list[tuple]:
    return pg.conn.execute(f'SELECT {columns} FROM "{pg.schema}"."{table}" ORDER BY id').fetchall()


def tables(pg) -> list[str]:
    found = pg.conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (pg.schema,)
    )
    return [r[0] for r in found.fetchall()]


def test_append_creates_the_table_with_typed_and_json_columns(cc_conn, pg):
    manifest = land(cc_conn, sql(pg, "items"), total=45)
    assert manifest == {
        "records": 45,
        "pages": 3,
        "table": f"{pg.schema}.items",
        "write": "append",
        "rows_written": 45,
    }
    types_ = dict(
        pg.conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s",
            (pg.schema,),
        ).fetchall()
    )
    assert types_ == {
        "id": "bigint",
        "name": "text",
        "amount": "double precision",
        "active": "boolean",
        "updated_at": "text",
        "tags": "jsonb",
        "address": "jsonb",
    }
    city = pg.conn.execute(f"SELECT address->>'city' FROM \"{pg.schema}\".items WHERE id = 8").fetchone()
    assert city == ("city-1",)
    land(cc_conn, sql(pg, "items"), context=ti(run_id="manual__2"), total=10)
    assert len(rows(pg, "items")) == 55
    assert tables(pg) == ["items"]  # no staging table left


def test_replace_swaps_the_rows(cc_conn, pg):
    land(cc_conn, sql(pg, "items", write="replace"), total=45)
    manifest = land(cc_conn, sql(pg, "items", write="replace"), context=ti(run_id="manual__2"), total=12, rev=2)
    assert manifest["rows_written"] == 12
    assert rows(pg, "items")[-1] == (12, "record-12-rev2")
    assert len(rows(pg, "items")) == 12


def test_merge_across_two_runs_with_overlapping_records(cc_conn, pg):
    dest = sql(pg, "items", write="merge", primary_key=["id"])
    assert land(cc_conn, dest, total=50)["rows_written"] == 50
    # the second run sees records 41..80, those up to 50 changed (rev 2)
    second = land(cc_conn, dest, context=ti(run_id="manual__2"), start=41, total=40, rev=2)
    assert second["rows_written"] == 40
    got = rows(pg, "items")
    assert [r[0] for r in got] == list(range(1, 81))
    assert got[39] == (40, "record-40")
    assert got[40] == (41, "record-41-rev2")
    assert got[49] == (50, "record-50-rev2")


def test_merge_into_a_table_without_a_unique_key(cc_conn, pg):
    pg.conn.execute(f'CREATE TABLE "{pg.schema}".plain (id BIGINT, name TEXT)')
    dest = sql(pg, "plain", write="merge", primary_key="id")
    land(cc_conn, dest, total=20)
    land(cc_conn, dest, context=ti(run_id="manual__2"), start=11, total=20, rev=2)
    got = rows(pg, "plain")
    assert [r[0] for r in got] == list(range(1, 31))
    assert got[10] == (11, "record-11-rev2")


def test_new_fields_become_new_columns(cc_conn, pg):
    land(cc_conn, sql(pg, "items"), total=20)
    land(cc_conn, sql(pg, "items"), context=ti(run_id="manual__2"), start=21, total=40, new_field_from=40)
    got = rows(pg, "items", "id, tier")
    assert got[0] == (1, None)
    assert got[-1] == (60, "gold")


def test_type_conflict_fails_naming_the_field_and_loads_nothing(cc_conn, pg):
    land(cc_conn, sql(pg, "items"), total=20)
    with pytest.raises(DestinationSchemaError, match="'amount'"):
        land(cc_conn, sql(pg, "items"), context=ti(run_id="manual__2"), start=21, total=60, text_amount_from=50)
    assert len(rows(pg, "items")) == 20
    assert tables(pg) == ["items"]


def test_sql_api_failure_leaves_the_table_as_it_was(cc_conn, pg):
    dest = sql(pg, "items", write="merge", primary_key=["id"])
    land(cc_conn, dest, total=30)
    before = rows(pg, "items")
    with pytest.raises(ApiResponseError):
        land(cc_conn, dest, context=ti(run_id="manual__2"), total=95, rev=2, fail_from_offset=60)
    assert rows(pg, "items") == before
    assert tables(pg) == ["items"]


def test_missing_sql_connection_fails_before_any_api_call(cc_conn, fresh_stats):
    with pytest.raises(DestinationUnavailableError, match="no_such_db"):
        land(cc_conn, SqlDestination("no_such_db", "items"), total=10)
    assert api_calls(fresh_stats) == 0


def test_missing_schema_fails_before_any_api_call(cc_conn, pg, fresh_stats):
    with pytest.raises(DestinationUnavailableError, match=r"nowhere\.items"):
        land(cc_conn, SqlDestination(PG_CONN, "nowhere.items"), total=10)
    assert api_calls(fresh_stats) == 0
