"""Test DAG: the operator in deferrable mode (calls made by the triggerer), paginated, plus a deferred POST.

Retries are on because Airflow 3.3 can fail a task whose trigger fires faster than the scheduler drains the
executor's event for the deferring process (apache/airflow#72716, #71580; fix pending upstream). A new try is
a new attempt: the at-most-once guard of a POST is per try.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_oauth_connector.operators import OAuthConnectorOperator
from airflow_oauth_connector.pagination import OffsetPaginator

with DAG(
    "oauth_deferrable",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 3, "retry_delay": timedelta(seconds=1)},
    tags=["oauth-connector", "test"],
):
    OAuthConnectorOperator(
        task_id="fetch_items_deferred",
        oauth_conn_id="oauth_demo_cc",
        endpoint="items",
        query_params={"total": 45},
        pagination=OffsetPaginator(limit=20, records_path="items", total_path="total"),
        deferrable=True,
    )
    OAuthConnectorOperator(
        task_id="post_deferred",
        oauth_conn_id="oauth_demo_cc",
        endpoint="echo",
        method="POST",
        json={"deferred": True, "run_id": "{{ run_id }}"},
        response_filter=lambda response: response.json()["json"],
        deferrable=True,
    )
