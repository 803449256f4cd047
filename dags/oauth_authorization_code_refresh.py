"""
Authorization code: a person authorized the connection once; tasks use its stored refresh token.

Connection ``oauth_demo_ac`` (grant type authorization_code, with ``refresh_token`` set by the Authorize
flow). The hook refreshes the access token from it transparently (and keeps a rotated refresh token).
Pages follow the RFC 8288 ``Link: <...>; rel="next"`` header.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.operators import OAuthConnectorOperator
from airflow_oauth_connector.pagination import LinkHeaderPaginator


@dag(
    dag_id="oauth_authorization_code_refresh",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["oauth-connector", "example"],
)
def oauth_authorization_code_refresh() -> None:
    @task
    def whoami() -> dict[str, object]:
        """The hook directly: who is the API acting for?"""
        body = OAuthConnectorHook("oauth_demo_ac").run("whoami").json()
        return {"user": body.get("user"), "scope": body.get("scope")}

    items = OAuthConnectorOperator(
        task_id="fetch_items",
        oauth_conn_id="oauth_demo_ac",
        endpoint="items",
        query_params={"style": "link_header", "total": 40, "per_page": 15},
        pagination=LinkHeaderPaginator(records_path="", max_pages=10),
    )

    whoami() >> items


oauth_authorization_code_refresh()
