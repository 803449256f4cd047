"""Many workers on many hosts: CeleryExecutor with each worker in its own network namespace (issue 14).

The lab (:mod:`tests.support.celery_drills`): Airflow 3 with the CeleryExecutor (Redis broker), PostgreSQL
metadata DB, api-server, scheduler, dag-processor, triggerer on this host; two Celery workers, each a
separate host (network namespace + veth, own AIRFLOW_HOME and token directory) that shares nothing with the
other but the services: the api-server, the broker, the authorization server and the token store's Redis
(ACL user + password, TLS with a test CA, AOF). Started once for the module; cleaned up on success and on
failure. Skips where namespaces (root, iproute2), redis-server (with TLS), PostgreSQL or the Celery
provider are missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import celery_drills
from tests.support.celery_drills import Lab

# The lab (Airflow with Celery workers on two hosts) starts in the first test: longer than the default timeout.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

TASKS = 50


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    reason = celery_drills.lab_unavailable()
    if reason:
        pytest.skip(f"the multi-host Celery lab cannot run here: {reason}")
    lab = celery_drills.start_lab(tmp_path_factory.mktemp("celery_lab"))
    try:
        yield lab
    finally:
        print(f"\n[test_celery_hosts] figures: {json.dumps(lab.figures, sort_keys=True)}")
        lab.stop()


def _spread_over_hosts(figures: dict[str, Any], lab: Lab) -> None:
    hosts = len(lab.hosts.hosts)
    assert figures["hosts_used"] == hosts, figures
    assert all(count > 0 for count in figures["tasks_per_host"].values()), figures
    assert figures["distinct_airflow_homes"] == hosts, figures
    assert figures["distinct_network_namespaces"] == hosts, figures


def test_redis_store_one_token_for_all_hosts(lab: Lab) -> None:
    figures = lab.figures["cc_redis"] = celery_drills.one_token(lab, "redis", tasks=TASKS)
    assert figures["states"] == {"success": TASKS}, figures
    _spread_over_hosts(figures, lab)
    assert figures["token_requests"] == 1, figures


def test_file_store_one_token_per_host(lab: Lab) -> None:
    figures = lab.figures["cc_file"] = celery_drills.one_token(lab, "file", tasks=TASKS)
    assert figures["states"] == {"success": TASKS}, figures
    _spread_over_hosts(figures, lab)
    assert figures["token_requests"] == figures["hosts_used"], figures  # the file store is per machine


def test_rotating_refresh_tokens_across_hosts(lab: Lab) -> None:
    figures = lab.figures["rotating_redis"] = celery_drills.rotating(lab, tasks=TASKS, store_backend="redis")
    assert figures["states"] == {"success": TASKS}, figures
    _spread_over_hosts(figures, lab)
    assert figures["refresh_requests"] == TASKS, figures  # one forced rotation per task, none replayed
    assert figures["invalid_grant"] == 0, figures
    assert figures["revoked_grants"] == 0, figures
