"""
Client credentials + pagination: read every item of a paginated API into XCom, then summarise it.

Connection ``oauth_demo_cc`` (grant type client_credentials). The operator asks for 25 records per
page with offset/limit parameters and combines the records of all pages into one list.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_oauth_connector.operators import OAuthConnectorOperator
from airflow_oauth_connector.pagination import OffsetPaginator


@dag(
    dag_id="oauth_client_credentials_pagination",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["oauth-connector", "example"],
)
def oauth_client_credentials_pagination() -> None:
    items = OAuthConnectorOperator(
        task_id="fetch_items",
        oauth_conn_id="oauth_demo_cc",
        endpoint="items",
        query_params={"total": "{{ params.total }}"},
        pagination=OffsetPaginator(limit=25, records_path="items", total_path="total"),
        params={"total": 95},
    )

    @task
    def summarise(records: list[dict[str, object]]) -> dict[str, object]:
        names = [str(r["name"]) for r in records]
        summary = {"count": len(names), "first": names[0] if names else None, "last": names[-1] if names else None}
        print(f"Fetched {summary['count']} records: {summary['first']} ... {summary['last']}")
        return summary

    summarise(items.output)


oauth_client_credentials_pagination()
