"""Test DAG: OAuthConnectorSensor deferrable (polls in the triggerer) and in reschedule mode; poll 2 gets a 401.

Retries are on for the reason given in oauth_deferrable.py (Airflow 3.3's defer race).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_oauth_connector.sensors import OAuthConnectorSensor

with DAG(
    "oauth_sensor_deferrable",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 3, "retry_delay": timedelta(seconds=1)},
    tags=["oauth-connector", "test"],
):
    for task_id, mode_args in (("wait_deferrable", {"deferrable": True}), ("wait_reschedule", {"mode": "reschedule"})):
        OAuthConnectorSensor(
            task_id=task_id,
            oauth_conn_id="oauth_demo_cc",
            endpoint="jobs/{{ task.task_id }}-{{ run_id | replace(':', '') | replace('+', '') }}",
            request_params={"ready_after": 4, "reject_poll": 2},
            response_check=lambda response: response.json()["state"] == "done",
            poke_interval=1,
            timeout=120,
            **mode_args,
        )
