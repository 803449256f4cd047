"""Test DAG for secret hygiene: tasks that fail in the usual ways, and one that logs our objects.

* ``missing_endpoint``: a non-existent API path on ``oauth_demo_cc`` -> ``ApiResponseError`` (HTTP 404).
* ``wrong_secret``: connection ``oauth_bad_secret`` (wrong client secret) -> ``InvalidClientError``.
* ``check_rejects``: the operator, whose ``response_check`` says no -> failure with a body excerpt.
* ``canary``: prints the run's ``canary`` param unmasked: a positive control showing that the test's scan
  reaches every place task output lands (task log, REST, the scheduler's own log).
* ``log_objects``: logs (and prints) the hook, profile, token manager, stored token and auth object with the
  package's loggers at DEBUG, the way a user debugging a DAG would.

Every task has ``retries=0``. Their logs, wherever Airflow writes them, must not contain a secret.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.operators import OAuthConnectorOperator

with DAG(
    "oauth_hygiene_checks",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 0},
    params={"canary": ""},
    tags=["oauth-connector", "test"],
):

    @task
    def missing_endpoint() -> None:
        OAuthConnectorHook("oauth_demo_cc").run("no-such-endpoint/at/all")

    @task
    def wrong_secret() -> None:
        OAuthConnectorHook("oauth_bad_secret", retry={"max_attempts": 1}).run("whoami")

    OAuthConnectorOperator(
        task_id="check_rejects",
        oauth_conn_id="oauth_demo_cc",
        endpoint="whoami",
        response_check=lambda response: False,
    )

    @task
    def log_objects() -> dict[str, str]:
        logging.getLogger("airflow_oauth_connector").setLevel(logging.DEBUG)
        log = logging.getLogger("oauth_hygiene_checks")
        hook = OAuthConnectorHook("oauth_demo_ac")
        response = hook.run("whoami")
        token = hook.tokens.current()
        objects = {
            "hook": repr(hook),
            "profile": repr(hook.profile),
            "tokens": repr(hook.tokens),
            "token": repr(token),
            "token_str": str(token),
            "auth": repr(hook.session.auth),
            "client": repr(hook.token_client),
            "response": repr(response.json()),
        }
        for name, text in objects.items():
            log.info("%s: %s", name, text)
            print(f"{name}: {text}")
        return objects

    @task
    def canary() -> None:
        value = get_current_context()["params"]["canary"]
        if value:
            print(f"canary: {value}")

    missing_endpoint()
    canary()
    wrong_secret()
    log_objects()
