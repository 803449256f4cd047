"""Incremental loads in real task runs (dag.test): the mark is a Variable, stored only after the commit."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from airflow_oauth_connector.store import MemoryTokenStore
from tests.support import postgres
from tests.support.connections import connection

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DAG_ID = "oauth_landing_incremental"


@pytest.fixture
def env(monkeypatch, auth_server, airflow_db, tmp_path):
    reason = postgres.unreachable()
    if reason:
        pytest.skip(reason)
    monkeypatch.setattr(MemoryTokenStore, "_shared", None)
    monkeypatch.setenv("AIRFLOW_CONN_LAND_CC", json.dumps(connection(auth_server)))
    monkeypatch.setenv("AIRFLOW_CONN_LAND_PG", postgres.pg_uri())
    with postgres.scratch_schema("incr") as (schema, conn):
        yield {"schema": schema, "conn": conn, "path": f"file://{tmp_path}/files", "root": tmp_path / "files"}
    from airflow.models import Variable

    for task in ("to_postgres", "to_files"):
        Variable.delete(f"oauth_connector.incremental.{DAG_ID}.{task}.land_cc")


def run(env, **conf):
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import REPO

    bag = DagBag(str(REPO / "tests" / "dags" / f"{DAG_ID}.py"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(DAG_ID)
    params = {"total": 50, "rev": 1, "fail_from_offset": -1, "table": f"{env['schema']}.records", "path": env["path"]}
    dag_run = dag.test(run_conf={**params, **conf})
    return dag_run, {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def mark(task: str):
    from airflow.models import Variable

    stored = Variable.get(f"oauth_connector.incremental.{DAG_ID}.{task}.land_cc", default_var=None)
    return json.loads(stored)["cursor"] if stored else None


def table_ids(env) -> list[int]:
    rows = env["conn"].execute(f'SELECT id FROM "{env["schema"]}".records ORDER BY id').fetchall()
    return [r[0] for r in rows]


def file_ids(root: Path) -> list[int]:
    ids = []
    for part in sorted(root.glob("*/part-*.jsonl.gz")):
        ids += [json.loads(line)["id"] for line in gzip.decompress(part.read_bytes()).splitlines()]
    return sorted(ids)


def test_each_run_loads_what_changed_since_the_mark_and_a_failure_holds_it(env, fresh_stats):
    _, states = run(env)
    assert states == {"to_postgres": "success", "to_files": "success"}
    assert mark("to_postgres") == mark("to_files") == "2026-01-01T00:50:00Z"
    assert table_ids(env) == list(range(1, 51))

    # the API now holds 80 records: the next run asks only for those updated since the mark
    _, states = run(env, total=80)
    assert states == {"to_postgres": "success", "to_files": "success"}
    assert table_ids(env) == list(range(1, 81))
    assert file_ids(env["root"]) == list(range(1, 81))  # run 1's 50 + run 2's 30, no overlap
    assert mark("to_postgres") == "2026-01-01T01:20:00Z"

    # failure drill: the API fails mid-run (after retries): nothing visible, both marks held
    before = {p.name for p in env["root"].iterdir()}
    _, states = run(env, total=120, fail_from_offset=20)
    assert states == {"to_postgres": "failed", "to_files": "failed"}
    assert table_ids(env) == list(range(1, 81))
    assert {p.name for p in env["root"].iterdir()} == before
    assert mark("to_postgres") == mark("to_files") == "2026-01-01T01:20:00Z"

    # the next run starts from the held mark and gets everything after it
    _, states = run(env, total=120)
    assert states == {"to_postgres": "success", "to_files": "success"}
    assert table_ids(env) == list(range(1, 121))
    assert file_ids(env["root"]) == list(range(1, 121))
