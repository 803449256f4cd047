"""Test DAG: every templated field of OAuthConnectorOperator, rendered from params and run context."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_oauth_connector.operators import OAuthConnectorOperator

with DAG(
    "oauth_templating",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"path": "echo", "verb": "PUT", "tag": "t-42"},
):
    OAuthConnectorOperator(
        task_id="with_json",
        oauth_conn_id="oauth_demo_cc",
        endpoint="{{ params.path }}",
        method="{{ params.verb }}",
        query_params={"tag": "{{ params.tag }}"},
        json={"tag": "{{ params.tag }}", "run": "{{ run_id }}"},
        headers={"X-Test-Tag": "{{ params.tag }}"},
    )
    OAuthConnectorOperator(
        task_id="with_data",
        oauth_conn_id="oauth_demo_cc",
        endpoint="{{ params.path }}",
        method="POST",
        data={"tag": "{{ params.tag }}"},
    )
