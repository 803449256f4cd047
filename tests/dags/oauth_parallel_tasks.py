"""Test DAG: 20 tasks at once, each calling the API a few times through its own hook (own task process).

With a store shared by the deployment's processes (file, redis) the whole run should cost one token
request; with the per-process memory store, one per task. The connection id comes from the run's conf
(``{"conn_id": ...}``; default ``oauth_par_cc``) so one deployment can compare stores.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

from airflow_oauth_connector.hooks import OAuthConnectorHook

TASKS = 20
CALLS_PER_TASK = 3

with DAG(
    "oauth_parallel_tasks",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=TASKS,
    params={"conn_id": "oauth_par_cc", "calls": CALLS_PER_TASK},
    tags=["oauth-connector", "test"],
):

    @task
    def call_api(index: int) -> dict[str, object]:
        params = get_current_context()["params"]
        hook = OAuthConnectorHook(str(params["conn_id"]))
        started = time.time()
        clients = set()
        for _ in range(int(params["calls"])):
            clients.add(hook.run("whoami").json()["client_id"])
        return {
            "index": index,
            "pid": os.getpid(),
            "started": started,
            "ended": time.time(),
            "clients": sorted(clients),
        }

    for i in range(TASKS):
        call_api.override(task_id=f"call_{i:02d}")(i)
