"""Test DAG: N mapped tasks at once (conf ``tasks``), each calling the API through its own hook, reporting its host.

Conf: ``conn_id``, ``tasks``, ``calls`` (API calls per task), ``hold`` (seconds each task keeps its slot),
``renew`` (each task forces one token refresh first: with rotating refresh tokens, one rotation per task).
Two DAGs: ``oauth_celery_tasks`` (no retries) and ``oauth_celery_tasks_retrying`` (3 retries, 6 s apart: together
longer than the store drill's 15 s outage, so a task that fails as the store goes down retries after it is back).

Run by ``tests/integration/test_celery_hosts.py`` on Celery workers that are separate hosts (network
namespaces): each task returns the worker address it ran on, its AIRFLOW_HOME and network namespace, so the
test can check that the tasks were spread over the hosts and that the hosts share nothing but the services.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

from airflow.sdk import DAG, get_current_context, task

from airflow_oauth_connector.hooks import OAuthConnectorHook


def _build(dag_id: str, retries: int, retry_seconds: float = 2) -> None:
    with DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_tasks=64,
        default_args={"retries": retries, "retry_delay": timedelta(seconds=retry_seconds)},
        params={"conn_id": "oauth_cel_cc_redis", "tasks": 50, "calls": 2, "hold": 0.0, "renew": False},
        tags=["oauth-connector", "test"],
    ):

        @task
        def indexes() -> list[int]:
            return list(range(int(get_current_context()["params"]["tasks"])))

        @task
        def call_api(index: int) -> dict[str, object]:
            params = get_current_context()["params"]
            started = time.time()
            hook = OAuthConnectorHook(str(params["conn_id"]))
            if params["renew"]:  # one forced refresh per task (as after a 401): the grant rotates once per task
                hook.tokens.renew()
            clients = set()
            for _ in range(int(params["calls"])):
                clients.add(hook.run("whoami").json()["client_id"])
            time.sleep(float(params["hold"]))  # keeps the slots busy so that the tasks spread over the workers
            return {
                "index": index,
                "worker": os.environ.get("OAUTH_CONNECTOR_IT_WORKER_ADDRESS"),
                "airflow_home": os.environ.get("AIRFLOW_HOME"),
                "netns": os.readlink("/proc/self/ns/net"),
                "pid": os.getpid(),
                "started": started,
                "ended": time.time(),
                "clients": sorted(clients),
            }

        call_api.expand(index=indexes())


_build("oauth_celery_tasks", retries=0)
# Fault drills where the store comes back: Airflow's retries.
_build("oauth_celery_tasks_retrying", retries=3, retry_seconds=6)
