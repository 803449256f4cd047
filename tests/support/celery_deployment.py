"""A real Airflow deployment with the CeleryExecutor whose workers are separate hosts (network namespaces).

:func:`start_celery_deployment` builds on :func:`tests.support.airflow_deployment.start_deployment` (api-server,
scheduler, dag-processor, triggerer on this host; PostgreSQL metadata DB) and adds:

* a throw-away ``redis-server`` as Celery broker and result backend (:mod:`tests.support.redis_server`),
* the api-server, the broker and whatever else the caller starts bound to the hosts' service address
  (:mod:`tests.support.netns_hosts`), the only address both this host and the worker hosts reach,
* one ``airflow celery worker`` per test host, started inside the host's network namespace with its own
  ``AIRFLOW_HOME`` (so its own token directory, logs and config): the workers share nothing but the services.
  Each worker reports its address as its hostname (``[core] hostname_callable``), so the task instance's
  ``hostname`` says which host ran it and the api-server fetches the task's log from that host's log server.

Typical use (see ``tests/integration/test_celery_hosts.py``)::

    hosts = create_hosts(2)
    deployment = start_celery_deployment(tmp, hosts=hosts, dags_folders=[...], env={...})
    try:
        run = deployment.run_dag("dag", conf={...})
    finally:
        deployment.stop()          # workers, components, broker, database; then hosts.remove()
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.airflow_deployment import (
    AirflowProcessError,
    DagRunRef,
    Deployment,
    start_deployment,
)
from tests.support.airflow_server import airflow_env, airflow_executable
from tests.support.netns_hosts import Host, Hosts
from tests.support.processes import killpg, spawn_logged
from tests.support.redis_server import RedisServer, start_redis

REPO = Path(__file__).resolve().parents[2]
WORKER_ADDRESS_ENV = "OAUTH_CONNECTOR_IT_WORKER_ADDRESS"
CELERY_COMPONENTS = ("scheduler", "dag-processor", "triggerer")


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the test deployment: a worker host's address, else this host's name."""
    import socket

    return os.environ.get(WORKER_ADDRESS_ENV) or socket.getfqdn()


@dataclass
class CeleryWorker:
    """One ``airflow celery worker`` on one test host."""

    host: Host
    home: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def name(self) -> str:
        return f"w{self.host.index}"

    @property
    def token_directory(self) -> Path:
        return self.home / "oauth_connector" / "tokens"

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def task_processes(self) -> list[int]:
        """Pids of this worker's running task processes (``airflow`` children of the supervisors)."""
        out = subprocess.run(["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True, check=False)
        return [int(p) for p in out.stdout.split()]

    def stop(self, timeout: float = 20.0) -> None:
        killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


@dataclass
class CeleryDeployment:
    """The deployment (:class:`Deployment`), its workers on their hosts, and the broker."""

    deployment: Deployment
    hosts: Hosts
    broker: RedisServer
    workers: list[CeleryWorker] = field(default_factory=list)
    _stopped: bool = False

    def __getattr__(self, name: str) -> Any:  # run_dag, xcom, task_instances, request, ...
        return getattr(self.deployment, name)

    def worker_at(self, address: str) -> CeleryWorker | None:
        return next((w for w in self.workers if w.host.address == address), None)

    def check_workers(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is not None:
                raise AirflowProcessError(
                    f"celery worker {worker.name} exited with {worker.process.returncode}:\n{worker.log_tail()}"
                )

    def wait_for_workers(self, timeout: float = 90.0) -> None:
        """Until every worker answers a Celery ping through the broker."""
        expected = {f"{w.name}@{w.host.address}" for w in self.workers}
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        while True:
            self.check_workers()
            seen = set(self._ping())
            if expected <= seen:
                return
            if time.monotonic() > deadline:
                raise AirflowProcessError(
                    f"celery workers not ready within {timeout:.0f} s (answered: {sorted(seen)}); "
                    + "\n".join(f"{w.name}:\n{w.log_tail(20)}" for w in self.workers)
                )
            time.sleep(1.0)

    def _ping(self) -> list[str]:
        from celery import Celery

        app = Celery(broker=self.broker.url(0))
        try:
            replies = app.control.ping(timeout=1.0) or []
        except Exception:  # broker not ready yet
            return []
        finally:
            app.close()
        return [name for reply in replies for name in reply]

    def describe_run(self, run: DagRunRef, *, log_lines: int = 30) -> str:
        """Task states, their hosts, and the tail of each failed task's log (read from the worker's disk)."""
        lines = [f"run {run.run_id} of {run.dag_id}: {self.deployment.dag_run(run)['state']}"]
        for ti in self.deployment.task_instances(run):
            label = f"{ti['task_id']}[{ti.get('map_index', -1)}]"
            lines.append(f"  {label}: {ti['state']} on {ti.get('hostname')}")
            if ti["state"] not in ("success", "skipped"):
                for log in self.task_log_files(run, ti["task_id"], int(ti.get("map_index", -1))):
                    text = log.read_text(errors="replace").splitlines()[-log_lines:]
                    lines += ["    | " + line[:400] for line in text]
        return "\n".join(lines)

    def task_log_files(self, run: DagRunRef, task_id: str, map_index: int = -1) -> list[Path]:
        pattern = f"dag_id={run.dag_id}/run_id={run.run_id}/task_id={task_id}/"
        pattern += (f"map_index={map_index}/" if map_index >= 0 else "") + "attempt=*.log"
        return sorted(p for w in self.workers for p in (w.home / "logs").glob(pattern))

    def stop(self) -> None:
        """Workers, then the deployment's components and database, then the broker. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for worker in self.workers:
            with contextlib.suppress(Exception):
                worker.stop()
        with contextlib.suppress(Exception):
            self.deployment.stop()
        self.broker.stop()


def start_celery_deployment(
    home: Path,
    *,
    hosts: Hosts,
    dags_folders: Sequence[Path | str],
    env: Mapping[str, str] | None = None,
    worker_env: Mapping[int, Mapping[str, str]] | None = None,
    concurrency: int = 8,
    wait_for_dags: Sequence[str] = (),
    timeout: float = 150.0,
) -> CeleryDeployment:
    """Start the deployment of the module docstring; on failure, everything started is stopped again.

    :param env: environment of every process, workers included (connections, ``[oauth_connector]`` options).
    :param worker_env: extra environment of worker ``n`` (1-based), e.g. another store option per host.
    :param concurrency: task slots per worker (``[celery] worker_concurrency``).
    """
    home = Path(home).resolve()
    broker = start_redis(home / "broker", bind=hosts.service_address)
    shared: dict[str, str] = {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker.url(0),
        "AIRFLOW__CELERY__RESULT_BACKEND": broker.url(1),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
        "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
        "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "600",
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "120",  # the api-server stalls under load on 2 cores
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.support.celery_deployment.worker_hostname",
        "AIRFLOW__CORE__PARALLELISM": "64",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
        "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "128",
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
        **(env or {}),
    }
    deployment: Deployment | None = None
    celery = CeleryDeployment(deployment=None, hosts=hosts, broker=broker)  # type: ignore[arg-type]
    try:
        deployment = start_deployment(
            home / "control",
            dags_folders=dags_folders,
            env=shared,
            api_host=hosts.service_address,
            components=CELERY_COMPONENTS,
            wait_for_dags=wait_for_dags,
            timeout=timeout,
        )
        celery.deployment = deployment
        for host in hosts.hosts:
            celery.workers.append(
                _start_worker(host, home / f"worker{host.index}", deployment.env, (worker_env or {}).get(host.index))
            )
        celery.wait_for_workers(timeout)
        return celery
    except BaseException:
        celery.stop()
        raise


def _start_worker(host: Host, home: Path, base_env: Mapping[str, str], extra: Mapping[str, str] | None) -> CeleryWorker:
    home.mkdir(parents=True, exist_ok=True)
    env = airflow_env(home, {**base_env, WORKER_ADDRESS_ENV: host.address, **(extra or {})})
    env["AIRFLOW_HOME"] = str(home)
    log_path = home / "celery-worker.log"
    name = f"w{host.index}@{host.address}"
    argv = [*airflow_executable(), "celery", "worker", "--celery-hostname", name, "--without-mingle"]
    process = spawn_logged(host.command(argv), env, home, log_path)
    return CeleryWorker(host=host, home=home, process=process, log_path=log_path)
