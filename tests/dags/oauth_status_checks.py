"""Test DAG: one task calling the API through the connection named in the run's conf (``{"conn_id": ...}``).

``tests/integration/test_status.py`` runs it with a wrong client secret (the task fails with
``invalid_client``, which the connection's status then shows with this task's id), then with the right one.
No retries: the failure is try 1.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

from airflow_oauth_connector.hooks import OAuthConnectorHook

with DAG(
    "oauth_status_checks",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"conn_id": "oauth_status_cc"},
    default_args={"retries": 0},
    tags=["oauth-connector", "test"],
):

    @task
    def call() -> str:
        conn_id = str(get_current_context()["params"]["conn_id"])
        return str(OAuthConnectorHook(conn_id, retry={"max_attempts": 1}).run("whoami").json()["client_id"])

    call()
