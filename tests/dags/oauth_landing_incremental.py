"""Test DAG: incremental loads into PostgreSQL (merge) and file:// object storage; params pick the API's data."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_oauth_connector.destinations import ObjectStorageDestination, SqlDestination
from airflow_oauth_connector.incremental import Incremental
from airflow_oauth_connector.operators import OAuthConnectorOperator
from airflow_oauth_connector.pagination import OffsetPaginator

QUERY = {"total": "{{ params.total }}", "rev": "{{ params.rev }}", "fail_from_offset": "{{ params.fail_from_offset }}"}

with DAG(
    "oauth_landing_incremental",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"total": 50, "rev": 1, "fail_from_offset": -1, "table": "public.records", "path": "file:///tmp/x"},
    tags=["oauth-connector", "test"],
):
    for task_id, destination in (
        ("to_postgres", SqlDestination("land_pg", "{{ params.table }}", write="merge", primary_key=["id"])),
        ("to_files", ObjectStorageDestination("{{ params.path }}", format="jsonl.gz")),
    ):
        OAuthConnectorOperator(
            task_id=task_id,
            oauth_conn_id="land_cc",
            endpoint="records",
            query_params=QUERY,
            pagination=OffsetPaginator(limit=20, records_path="records", total_path="total"),
            destination=destination,
            incremental=Incremental(cursor_path="updated_at", request_param="updated_since"),
            retry={"max_attempts": 2, "backoff_initial": 0.01, "backoff_max": 0.01},
        )
