"""
Land an API into a PostgreSQL table: merge (upsert on ``id``) with an incremental high-water mark.

Connections ``oauth_demo_cc`` (client credentials) and ``oauth_demo_pg`` (any SQL connection whose hook is a
``DbApiHook``; here PostgreSQL). Pages go into a staging table as they arrive; one transaction then creates
the table when absent, adds columns for new fields, upserts the run's records and drops the staging table,
so the table never holds half a run. Top-level scalar fields become columns of the same name; nested values
(``tags``, ``address``) become JSONB.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_oauth_connector.destinations import SqlDestination
from airflow_oauth_connector.incremental import Incremental
from airflow_oauth_connector.operators import OAuthConnectorOperator
from airflow_oauth_connector.pagination import OffsetPaginator


@dag(
    dag_id="oauth_land_records_to_postgres",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"table": "public.oauth_demo_records", "total": 250},
    tags=["oauth-connector", "example"],
)
def oauth_land_records_to_postgres() -> None:
    OAuthConnectorOperator(
        task_id="merge_records",
        oauth_conn_id="oauth_demo_cc",
        endpoint="records",
        query_params={"total": "{{ params.total }}"},
        pagination=OffsetPaginator(limit=100, records_path="records", total_path="total"),
        destination=SqlDestination("oauth_demo_pg", "{{ params.table }}", write="merge", primary_key=["id"]),
        incremental=Incremental(cursor_path="updated_at", request_param="updated_since"),
    )


oauth_land_records_to_postgres()
