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


def test_the_default_store_is_safe_on_two_hosts(lab: Lab) -> None:
    """No store on the connection, no [oauth_connector] token_store: the CeleryExecutor picks the shared Redis
    (redis_url is set), so rotating refresh tokens survive two hosts."""
    figures = lab.figures["rotating_default"] = celery_drills.rotating(lab, tasks=20, store_backend=None)
    assert figures["states"] == {"success": 20}, figures
    _spread_over_hosts(figures, lab)
    assert figures["invalid_grant"] == 0, figures
    assert figures["revoked_grants"] == 0, figures


def test_killed_mid_refresh_on_a_grace_window_server_every_other_task_recovers(lab: Lab) -> None:
    figures = lab.figures["kill_grace"] = celery_drills.kill_mid_refresh(lab, grace_seconds=30)
    assert figures["refresh_requests_after_kill"] == 1, figures  # one attempt with the old refresh token
    assert figures["tasks_recovered"] == figures["tasks_other_than_the_killed_one"], figures
    assert figures["invalid_grant"] == 0, figures
    assert figures["revoked_grants"] == 0, figures


def test_killed_mid_refresh_on_a_no_grace_server_the_others_fail_fast(lab: Lab) -> None:
    figures = lab.figures["kill_no_grace"] = celery_drills.kill_mid_refresh(lab, grace_seconds=0)
    assert figures["refresh_requests_after_kill"] == 1, figures  # the dead token is sent once, not 15 times
    assert figures["invalid_grant"] == 1, figures
    assert figures["tasks_recovered"] == 0, figures
    # Every task but the killed one and the one that made the attempt failed without a token request.
    assert figures["tasks_failed_fast"] == figures["tasks"] - 2, figures
    assert "needs authorization" in figures["sample_fail_fast_message"], figures
    assert figures["seconds_rejection_to_last_failure"] < 30, figures


def test_store_redis_restarted_mid_run_loses_no_rotated_token(lab: Lab) -> None:
    figures = lab.figures["store_restart"] = celery_drills.store_restart(lab)
    assert figures["states"] == {"success": figures["tasks"]}, figures  # after Airflow's retries
    assert figures["invalid_grant"] == 0, figures
    assert figures["revoked_grants"] == 0, figures
    assert figures["rotated_token_kept"], figures


def test_one_host_cut_off_from_the_store_fails_fast_the_other_is_unaffected(lab: Lab) -> None:
    figures = lab.figures["store_cut"] = celery_drills.store_cut(lab)
    assert set(figures["other_host"]) == {"success"}, figures
    assert set(figures["cut_host"]) == {"failed"}, figures
    assert figures["failures_naming_the_store"] == figures["cut_host"]["failed"], figures
    # Bounded: 2 x redis_socket_timeout (5 s) for the store call, plus the task process's own start-up.
    assert figures["max_task_seconds_on_cut_host"] < 60, figures


def test_token_endpoint_down_30_s_tasks_succeed_within_their_retry_bounds(lab: Lab) -> None:
    figures = lab.figures["token_endpoint_down"] = celery_drills.token_endpoint_down(lab)
    assert figures["states"] == {"success": figures["tasks"]}, figures
    assert figures["token_requests_refused_while_down"] >= 1, figures
    assert figures["token_requests_answered"] == 1, figures
