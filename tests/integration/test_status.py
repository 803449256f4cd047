"""
A connection's status after real failures and successes (issue 11, point 4), in a REAL Airflow deployment
(api-server, scheduler with the LocalExecutor, dag-processor; PostgreSQL) against the real DOT server.

A task that fails with ``invalid_client`` (a wrong client secret) leaves its failure in the connection's
status — kind, time and where, ``oauth_status_checks/call/try 1`` — which ``airflow-oauth-connector status``
and the OAuth profiles page show; the Connections page's Test (``POST /api/v2/connections/test``, which tests
a copy of the connection under a random id) records its failure as ``test``; with the right secret a Test
makes it ``ready``, and a later task logs that it uses the stored token. Task logs name the connection and
the token URL, never a secret.

The deployment starts once for the module (~35 s). Skips if PostgreSQL (127.0.0.1:5432) is unreachable.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.airflow_deployment import Deployment, postgres_available, start_deployment
from tests.support.airflow_server import run_python
from tests.support.connections import connection

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "oauth_status_checks"


@pytest.fixture(scope="module")
def deployment(auth_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    reason = postgres_available()
    if reason:
        pytest.skip(f"the real-deployment tests need PostgreSQL: {reason}")
    env = {"AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE": "file", "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    started = start_deployment(
        tmp_path_factory.mktemp("status_home"),
        dags_folders=[REPO / "tests" / "dags"],
        env=env,
        wait_for_dags=[DAG_ID],
    )
    try:
        yield started
    finally:
        started.stop()


def _cli(deployment: Deployment, *args: str) -> str:
    """``airflow-oauth-connector *args`` with the deployment's environment, as an operator runs it; stdout."""
    return run_python(deployment.home, deployment.env, "-m", "airflow_oauth_connector.cli", *args)


def _status(deployment: Deployment, conn_id: str) -> dict[str, Any]:
    """``airflow-oauth-connector status CONN_ID --json``."""
    out = _cli(deployment, "status", conn_id, "--json")
    [status] = json.loads(out)  # stdout holds the JSON alone (Airflow's log lines go to stderr)
    return dict(status)


def _body(auth_server: Any, conn_id: str, secret: str) -> dict[str, Any]:
    body = connection(auth_server, "cc", secret=secret)
    return {**body, "connection_id": conn_id, "extra": json.dumps(body["extra"])}


def _test(deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
    """The Connections page's Test button: ``POST /api/v2/connections/test`` with the form's fields."""
    return dict(deployment.request("POST", "/api/v2/connections/test", json=body))


def test_a_failed_task_shows_in_the_status_until_a_test_succeeds(deployment: Deployment, auth_server: Any) -> None:
    conn_id = f"oauth_status_{secrets.token_hex(3)}"
    wrong = "wrong-" + secrets.token_urlsafe(24)
    right = auth_server.client("cc").client_secret
    deployment.request("POST", "/api/v2/connections", json=_body(auth_server, conn_id, wrong), expect=(201,))
    assert _status(deployment, conn_id)["state"] == "not_tested"

    # 1. a real task fails with invalid_client: its log names the connection and the token URL
    run = deployment.run_dag(DAG_ID, conf={"conn_id": conn_id}, timeout=150)
    assert run.state == "failed", deployment.describe_run(run)
    log = deployment.task_log(run, "call", 1)
    assert f"Connection '{conn_id}': token endpoint {auth_server.token_url} returned error 'invalid_client'" in log
    assert wrong not in log
    status = _status(deployment, conn_id)
    assert status["state"] == "failing"
    failure = status["last_failure"]
    assert (failure["kind"], failure["where"]) == ("invalid_client", f"{DAG_ID}/call/try 1")
    assert failure["at"] is not None
    assert status["description"].startswith("last failure: invalid_client at ")
    assert f" in {DAG_ID}/call/try 1: " in status["description"]
    assert wrong not in json.dumps(status)
    assert f"{conn_id}: last failure: invalid_client at " in _cli(deployment, "status", conn_id)
    page = deployment.request("GET", "/oauth-connector/")  # the OAuth profiles page lists it with the task's id
    row = re.search(rf"<tr data-conn-id='{re.escape(conn_id)}'>.*?</tr>", page, re.S)
    assert row, page[:500]
    assert f"data-kind='invalid_client' data-where='{DAG_ID}/call/try 1'" in row.group(0)
    assert "<span class='state state-failing'>failing</span>" in row.group(0)

    # 2. the Connections page's Test with the same (wrong) settings: recorded as "test"
    answer = _test(deployment, _body(auth_server, conn_id, wrong))
    assert answer["status"] is False
    assert "invalid_client" in answer["message"]
    status = _status(deployment, conn_id)
    assert (status["state"], status["last_failure"]["where"]) == ("failing", "test")

    # 3. the right secret: untested until a Test succeeds, then ready; the failure is gone
    patch = {"connection_id": conn_id, "conn_type": "oauth_connector", "password": right}
    deployment.request("PATCH", f"/api/v2/connections/{conn_id}", params={"update_mask": "password"}, json=patch)
    assert _status(deployment, conn_id)["state"] == "not_tested"  # new credentials: nothing known of them yet
    answer = _test(deployment, _body(auth_server, conn_id, right))
    assert answer["status"] is True, answer
    status = _status(deployment, conn_id)
    assert (status["state"], status["last_failure"]) == ("ready", None)
    assert status["last_success"] is not None

    # 4. tasks succeed; the second reuses the first one's token and says so (never the token)
    first = deployment.run_dag(DAG_ID, conf={"conn_id": conn_id}, timeout=150)
    assert first.state == "success", deployment.describe_run(first)
    second = deployment.run_dag(DAG_ID, conf={"conn_id": conn_id}, timeout=150)
    assert second.state == "success", deployment.describe_run(second)
    log = deployment.task_log(second, "call", 1)
    assert f"Connection '{conn_id}': using the stored token, expires at " in log
    assert right not in log
    assert _status(deployment, conn_id)["state"] == "ready"
