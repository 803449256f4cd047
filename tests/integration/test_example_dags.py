"""The example DAGs in dags/ and operator templating, run with dag.test() against the real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_oauth_connector.operators import OAuthConnectorOperator
from airflow_oauth_connector.store import MemoryTokenStore
from tests.support.connections import connection
from tests.support.consent import obtain_refresh_token

# migrating the metadata DB and dag.test() runs: longer than the default per-test timeout
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _conn(server, client: str, **extra) -> str:
    return json.dumps(connection(server, client, **extra))


def _refresh_token(server) -> str:
    return obtain_refresh_token(server)


@pytest.fixture
def demo_connections(monkeypatch, auth_server, airflow_db):
    monkeypatch.setattr(MemoryTokenStore, "_shared", None)
    monkeypatch.setenv("AIRFLOW_CONN_OAUTH_DEMO_CC", _conn(auth_server, "cc"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_OAUTH_DEMO_AC",
        _conn(
            auth_server,
            "ac",
            grant_type="authorization_code",
            authorize_url=auth_server.authorize_url,
            refresh_token=_refresh_token(auth_server),
        ),
    )
    auth_server.reset_stats()
    return auth_server


def _load_dag(dag_id: str, folder: str = "dags"):
    from tests.conftest import REPO
    from tests.support.airflow_compat import DagBag

    bag = DagBag(str(REPO / folder / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def _xcom(run, task_id: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key="return_value")
            .one()
        )
        value = row.value
    return json.loads(value) if isinstance(value, str) else value


def _test(dag):
    run = dag.test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    return run


def test_client_credentials_pagination_dag(demo_connections):
    run = _test(_load_dag("oauth_client_credentials_pagination"))
    records = _xcom(run, "fetch_items")
    assert [r["id"] for r in records] == list(range(1, 96))
    assert _xcom(run, "summarise") == {"count": 95, "first": "item-1", "last": "item-95"}
    assert demo_connections.stats()["token_requests"]["total"] == 1


def test_authorization_code_dag_uses_the_stored_refresh_token(demo_connections):
    run = _test(_load_dag("oauth_authorization_code_refresh"))
    assert _xcom(run, "whoami")["user"] == demo_connections.username
    assert len(_xcom(run, "fetch_items")) == 40
    assert demo_connections.stats()["token_requests"]["by_grant_type"] == {"refresh_token": 1}


def test_post_with_response_check_dag(demo_connections):
    run = _test(_load_dag("oauth_post_with_response_check"))
    posted = _xcom(run, "post_event")
    assert posted["event"] == "run-finished"
    assert posted["run_id"] == run.run_id


def test_every_templated_field_is_rendered(demo_connections):
    run = _test(_load_dag("oauth_templating", folder="tests/dags"))
    echoed = _xcom(run, "with_json")
    assert echoed["method"] == "PUT"
    assert echoed["query"] == {"tag": "t-42"}
    assert echoed["json"] == {"tag": "t-42", "run": run.run_id}
    assert echoed["test_headers"] == {"x-test-tag": "t-42"}
    assert _xcom(run, "with_data")["form"] == {"tag": "t-42"}
    assert OAuthConnectorOperator.template_fields == (
        "endpoint",
        "method",
        "query_params",
        "json",
        "data",
        "headers",
        "destination",  # a destination's own template fields (its path) are rendered in turn
    )


def test_land_records_to_files_dag(demo_connections, tmp_path):
    from airflow.models import Variable

    dag = _load_dag("oauth_land_records_to_files")
    run = dag.test(run_conf={"path": f"file://{tmp_path}/records", "total": 250})
    try:
        assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
        manifest = _xcom(run, "land_records")
        assert manifest["records"] == 250
        assert manifest["cursor"] == "2026-01-01T04:10:00Z"
        assert _xcom(run, "report") == {"records": 250, "files": 1, "cursor": "2026-01-01T04:10:00Z"}
        names = sorted(p.name for p in (tmp_path / "records").iterdir())
        assert names == sorted(["_oauth_connector_tmp", Path(manifest["path"]).name])
    finally:
        Variable.delete("oauth_connector.incremental.oauth_land_records_to_files.land_records.oauth_demo_cc")


def test_land_records_to_postgres_dag(demo_connections, monkeypatch):
    from airflow.models import Variable

    from tests.support import postgres

    reason = postgres.unreachable()
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv("AIRFLOW_CONN_OAUTH_DEMO_PG", postgres.pg_uri())
    with postgres.scratch_schema("example") as (schema, conn):
        run = _test_with(_load_dag("oauth_land_records_to_postgres"), {"table": f"{schema}.records", "total": 120})
        Variable.delete("oauth_connector.incremental.oauth_land_records_to_postgres.merge_records.oauth_demo_cc")
        manifest = _xcom(run, "merge_records")
        assert manifest == {
            "records": 120,
            "pages": 2,
            "cursor": "2026-01-01T02:00:00Z",
            "table": f"{schema}.records",
            "write": "merge",
            "rows_written": 120,
        }
        assert conn.execute(f'SELECT COUNT(*) FROM "{schema}".records').fetchone() == (120,)


def _test_with(dag, conf):
    run = dag.test(run_conf=conf)
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    return run
