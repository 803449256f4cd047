"""
A POST with a templated JSON body, checked by ``response_check``; the filtered answer goes to XCom.

Connection ``oauth_demo_cc``. POST is not replayed after an ambiguous failure (read timeout, 5xx)
unless ``replayable=True``; 429/503 answers, which mean "not processed", are retried.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_oauth_connector.operators import OAuthConnectorOperator


def _accepted(response) -> bool:
    return response.status_code == 200 and response.json().get("method") == "POST"


@dag(
    dag_id="oauth_post_with_response_check",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["oauth-connector", "example"],
)
def oauth_post_with_response_check() -> None:
    OAuthConnectorOperator(
        task_id="post_event",
        oauth_conn_id="oauth_demo_cc",
        endpoint="echo",
        method="POST",
        json={"event": "run-finished", "run_id": "{{ run_id }}", "run_after": "{{ dag_run.run_after | ds }}"},
        headers={"X-Request-Source": "airflow"},
        response_check=_accepted,
        response_filter=lambda response: response.json()["json"],
    )


oauth_post_with_response_check()
