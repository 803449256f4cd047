"""A real, multi-process Airflow deployment on loopback for integration tests.

:func:`start_deployment` runs, each as its own process group with its own log file under AIRFLOW_HOME:

* ``airflow api-server`` (SimpleAuthManager, JWT login; started with :func:`tests.support.airflow_server.
  start_api_server`, so :class:`Deployment.api` is an :class:`~tests.support.airflow_server.ApiServer`),
* ``airflow scheduler`` with the LocalExecutor (tasks run as real forked task processes that talk to the
  api-server's execution API),
* ``airflow dag-processor`` (DAG bundles: the given folders, one ``LocalDagBundle`` each),
* ``airflow triggerer``,

against a metadata database of its own: a fresh PostgreSQL database on ``127.0.0.1:5432`` (created at start,
dropped at :meth:`Deployment.stop`) or, with ``db="sqlite"``, a SQLite file in AIRFLOW_HOME.  Typical use::

    deployment = start_deployment(home, dags_folders=[REPO / "dags"], env={"AIRFLOW_CONN_API": "..."})
    try:
        run = deployment.run_dag("my_dag", conf={"x": 1})           # unpause, trigger, wait
        assert run.state == "success", deployment.describe_run(run)
        deployment.xcom(run, "my_task")                               # REST
        deployment.task_log(run, "my_task")                           # REST
    finally:
        deployment.stop()                                             # processes, then the database

Every process gets the same environment (``env`` included: ``AIRFLOW_CONN_*`` connections, provider options),
built like :func:`tests.support.airflow_server.airflow_env`: inherited ``AIRFLOW_*`` variables are dropped.
If PostgreSQL is unreachable, :class:`DeploymentUnavailable` is raised (tests turn it into a skip).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from tests.support.airflow_server import (
    SIMPLE_AUTH_MANAGER,
    AirflowProcessError,
    ApiServer,
    airflow_env,
    airflow_executable,
    run_airflow,
    start_api_server,
)
from tests.support.processes import killpg, spawn_logged

PG_HOST = os.environ.get("OAUTH_CONNECTOR_IT_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("OAUTH_CONNECTOR_IT_PG_PORT", "5432"))
PG_USER = os.environ.get("OAUTH_CONNECTOR_IT_PG_USER", "postgres")
DB_PREFIX = "oauth_connector_it_"
COMPONENTS = ("scheduler", "dag-processor", "triggerer")
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
TERMINAL_TI_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})

# Fast, small and self-contained: a few seconds from "trigger" to "running", 20+ tasks at once on 2 cores.
DEFAULT_SETTINGS: dict[str, str] = {
    "AIRFLOW__CORE__PARALLELISM": "24",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "24",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "64",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
    "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "2",
    "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
    "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": "300",
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    "AIRFLOW__API__WORKERS": "1",
    "AIRFLOW__API__EXPOSE_CONFIG": "False",
}


class DeploymentUnavailable(RuntimeError):
    """What the deployment needs is not available here (PostgreSQL unreachable, driver missing)."""


# ------------------------------------------------------------------------------------------------- database
def _pg_connect(dbname: str = "postgres"):  # type: ignore[no-untyped-def]
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - installed with the test requirements
        raise DeploymentUnavailable(
            "the PostgreSQL driver psycopg (3) is not installed: pip install 'psycopg[binary]'"
        ) from exc
    try:
        return psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeploymentUnavailable(
            f"PostgreSQL at {PG_USER}@{PG_HOST}:{PG_PORT} is unreachable: {first_line}"
        ) from exc


def postgres_available() -> str | None:
    """``None`` if a fresh database can be created on the local PostgreSQL, else the reason why not."""
    try:
        with _pg_connect() as conn:
            conn.execute("SELECT 1")
    except DeploymentUnavailable as exc:
        return str(exc)
    return None


def create_postgres_database(name: str | None = None) -> tuple[str, str]:
    """Create a fresh database (trust auth); return ``(name, sqlalchemy_url)`` for the psycopg 3 driver."""
    name = name or f"{DB_PREFIX}{secrets.token_hex(6)}"
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name {name!r}")
    with _pg_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def drop_postgres_database(name: str) -> None:
    """``DROP DATABASE ... WITH (FORCE)`` (closes leftover sessions); a missing server/database is ignored."""
    with contextlib.suppress(DeploymentUnavailable), _pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------------------------- deployment
@dataclass(frozen=True)
class DagRunRef:
    dag_id: str
    run_id: str
    state: str = "queued"


@dataclass
class Deployment:
    """Handle on a running deployment; see the module docstring."""

    home: Path
    api: ApiServer
    env: dict[str, str] = field(repr=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(repr=False, default_factory=dict)
    log_paths: dict[str, Path] = field(default_factory=dict)
    db: str = "postgres"
    db_url: str = field(default="", repr=False)
    db_name: str | None = None
    cleanups: list[Callable[[], None]] = field(repr=False, default_factory=list)
    _session: requests.Session | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    # --------------------------------------------------------------------- REST basics
    @property
    def base_url(self) -> str:
        return self.api.base_url

    def url(self, path: str) -> str:
        return self.api.url(path)

    @property
    def session(self) -> requests.Session:
        """An admin ``requests.Session`` with a JWT (renewed on a 401 by :meth:`request`)."""
        if self._session is None:
            self._session = self.api.session()
        return self._session

    def request(self, method: str, path: str, *, expect: Iterable[int] | None = (200,), **kwargs: Any) -> Any:
        """``method path`` on the public REST API as admin; JSON (or text) of the answer.

        ``expect``: accepted status codes (``None``: any; then the ``requests.Response`` is returned).
        """
        kwargs.setdefault("timeout", 90)  # a loaded 2-core CI machine can stall the api-server for 30 s+
        resp = self.session.request(method, self.url(path), **kwargs)
        if resp.status_code == 401:  # JWT expired: log in again once
            self._session = None
            resp = self.session.request(method, self.url(path), **kwargs)
        if expect is None:
            return resp
        if resp.status_code not in set(expect):
            raise AirflowProcessError(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:500]}")
        if "json" in resp.headers.get("content-type", ""):
            return resp.json()
        return resp.text

    # --------------------------------------------------------------------- health, DAGs
    def health(self) -> dict[str, Any]:
        return dict(self.request("GET", "/api/v2/monitor/health"))

    def check_processes(self) -> None:
        """Raise (with the log tail) if a component process has exited."""
        if not self.api.is_running():
            raise AirflowProcessError(f"api-server exited; log tail:\n{self.api.log_tail()}")
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise AirflowProcessError(
                    f"airflow {name} exited with {proc.returncode}; log tail:\n{self.component_log_tail(name)}"
                )

    def wait_until_healthy(self, timeout: float = 90.0) -> None:
        """Until the health endpoint reports scheduler, dag-processor and triggerer healthy."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            self.check_processes()
            with contextlib.suppress(requests.RequestException, AirflowProcessError):
                last = self.health()
                parts = [last.get(k) or {} for k in ("metadatabase", "scheduler", "dag_processor", "triggerer")]
                if all(p.get("status") == "healthy" for p in parts):
                    return
            if time.monotonic() > deadline:
                raise AirflowProcessError(f"deployment not healthy within {timeout:.0f} s: {last}")
            time.sleep(0.5)

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 90.0) -> None:
        """Until every DAG in ``dag_ids`` is parsed and serialized (``GET /api/v2/dags/{id}`` answers 200)."""
        pending = set(dag_ids)
        deadline = time.monotonic() + timeout
        while pending:
            self.check_processes()
            for dag_id in sorted(pending):
                resp = self.request("GET", f"/api/v2/dags/{quote(dag_id)}/details", expect=None)
                if resp.status_code == 200:
                    pending.discard(dag_id)
            if not pending:
                return
            if time.monotonic() > deadline:
                errors = self.import_errors()
                raise AirflowProcessError(
                    f"DAGs not parsed within {timeout:.0f} s: {sorted(pending)}; import errors: {errors}"
                )
            time.sleep(0.5)

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/api/v2/importErrors", params={"limit": 100})["import_errors"])

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/api/v2/dags/{quote(dag_id)}", json={"is_paused": False})

    # --------------------------------------------------------------------- runs
    def trigger(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        logical_date: str | bool | None = None,
    ) -> DagRunRef:
        """Unpause ``dag_id`` and create a manual run (``POST /api/v2/dags/{id}/dagRuns``).

        ``logical_date``: ``None`` (a run without one, as the REST API allows), an ISO timestamp, or ``True``
        for "now" (what the UI's trigger form fills in).
        """
        self.unpause(dag_id)
        if logical_date is True:
            logical_date = datetime.now(timezone.utc).isoformat()
        body: dict[str, Any] = {"logical_date": logical_date or None, "conf": dict(conf or {})}
        if run_id:
            body["dag_run_id"] = run_id
        data = self.request("POST", f"/api/v2/dags/{quote(dag_id)}/dagRuns", json=body)
        return DagRunRef(dag_id, data["dag_run_id"], data.get("state") or "queued")

    def dag_run(self, run: DagRunRef) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/v2/dags/{quote(run.dag_id)}/dagRuns/{quote(run.run_id)}"))

    def wait(self, run: DagRunRef, timeout: float = 120.0, poll: float = 0.5) -> DagRunRef:
        """Poll the run until it is success/failed; raise on timeout (with task states)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.dag_run(run)["state"]
            if state in TERMINAL_RUN_STATES:
                return DagRunRef(run.dag_id, run.run_id, state)
            self.check_processes()
            if time.monotonic() > deadline:
                raise AirflowProcessError(
                    f"run {run.run_id} of {run.dag_id} still {state!r} after {timeout:.0f} s; tasks: "
                    f"{self.task_states(run)}\nscheduler log tail:\n{self.component_log_tail('scheduler')}"
                )
            time.sleep(poll)

    def run_dag(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        *,
        timeout: float = 120.0,
        run_id: str | None = None,
        logical_date: str | bool | None = None,
    ) -> DagRunRef:
        """Trigger ``dag_id`` and wait for the run to finish; returns the finished run (check ``.state``)."""
        return self.wait(self.trigger(dag_id, conf, run_id=run_id, logical_date=logical_date), timeout=timeout)

    def task_instances(self, run: DagRunRef) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{quote(run.dag_id)}/dagRuns/{quote(run.run_id)}/taskInstances"
        return list(self.request("GET", path, params={"limit": 1000})["task_instances"])

    def task_instance(self, run: DagRunRef, task_id: str, map_index: int = -1) -> dict[str, Any]:
        path = f"/api/v2/dags/{quote(run.dag_id)}/dagRuns/{quote(run.run_id)}/taskInstances/{quote(task_id)}"
        if map_index >= 0:
            path += f"/{map_index}"
        return dict(self.request("GET", path))

    def task_states(self, run: DagRunRef) -> dict[str, str | None]:
        return {ti["task_id"]: ti["state"] for ti in self.task_instances(run)}

    def describe_run(self, run: DagRunRef, *, log_lines: int = 30) -> str:
        """Task states plus the tail of each failed task's log (for assertion messages)."""
        lines = [f"run {run.run_id} of {run.dag_id}: {run.state}"]
        for ti in self.task_instances(run):
            lines.append(f"  {ti['task_id']}: {ti['state']}")
            if ti["state"] not in ("success", "skipped"):
                with contextlib.suppress(Exception):
                    log = self.task_log(run, ti["task_id"], max(int(ti.get("try_number") or 1), 1))
                    lines += ["    | " + line for line in log.splitlines()[-log_lines:]]
        return "\n".join(lines)

    def rendered_fields(self, run: DagRunRef, task_id: str) -> dict[str, Any]:
        """The task's rendered template fields (REST: the task instance's ``rendered_fields``)."""
        return dict(self.task_instance(run, task_id).get("rendered_fields") or {})

    # --------------------------------------------------------------------- XCom
    def xcom_entries(self, run: DagRunRef, task_id: str = "~") -> list[dict[str, Any]]:
        """XCom entries of the run (all tasks with ``task_id="~"``), without values."""
        path = f"/api/v2/dags/{quote(run.dag_id)}/dagRuns/{quote(run.run_id)}/taskInstances/{quote(task_id)}"
        return list(self.request("GET", path + "/xcomEntries", params={"limit": 1000})["xcom_entries"])

    def xcom_entry(
        self, run: DagRunRef, task_id: str, key: str = "return_value", *, map_index: int = -1
    ) -> dict[str, Any]:
        """The raw REST representation of one XCom entry (``value`` as the API shows it)."""
        path = (
            f"/api/v2/dags/{quote(run.dag_id)}/dagRuns/{quote(run.run_id)}/taskInstances/{quote(task_id)}"
            f"/xcomEntries/{quote(key)}"
        )
        return dict(self.request("GET", path, params={"map_index": map_index}))

    def xcom(self, run: DagRunRef, task_id: str, key: str = "return_value", *, map_index: int = -1) -> Any:
        """An XCom value, decoded from JSON where the API returns it as a JSON string."""
        value = self.xcom_entry(run, task_id, key, map_index=map_index).get("value")
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return json.loads(value)
        return value

    # --------------------------------------------------------------------- logs
    def task_log(self, run: DagRunRef, task_id: str, try_number: int = 1, *, map_index: int = -1) -> str:
        """The task's log through REST (``.../taskInstances/{task}/logs/{try}``), one line per event."""
        path = (
            f"/api/v2/dags/{quote(run.dag_id)}/dagRuns/{quote(run.run_id)}/taskInstances/{quote(task_id)}"
            f"/logs/{try_number}"
        )
        params: dict[str, Any] = {"full_content": "true", "map_index": map_index}
        resp = self.request("GET", path, params=params, headers={"Accept": "application/json"}, expect=None)
        if resp.status_code != 200:
            raise AirflowProcessError(f"GET {path}: HTTP {resp.status_code}: {resp.text[:300]}")
        content = resp.json().get("content")
        if isinstance(content, str):
            return content
        lines = []
        for item in content or []:
            lines.append(json.dumps(item, sort_keys=True) if not isinstance(item, str) else item)
        return "\n".join(lines)

    def task_tries(self, run: DagRunRef, task_id: str, *, map_index: int = -1) -> list[int]:
        """The try numbers Airflow holds a record of (``.../taskInstances/{task}/tries``: history + current).

        Not always ``1..try_number``: when Airflow's defer race (apache/airflow#72716) fails a deferred try, the
        scheduler may start the next try without writing the failed one to the task-instance history.
        """
        path = f"/api/v2/dags/{quote(run.dag_id)}/dagRuns/{quote(run.run_id)}/taskInstances/{quote(task_id)}"
        if map_index >= 0:
            path += f"/{map_index}"
        entries = self.request("GET", path + "/tries")["task_instances"]
        return sorted({int(entry["try_number"]) for entry in entries if entry.get("try_number")})

    def task_logs(self, run: DagRunRef, task_id: str) -> dict[int, str]:
        """Every try's log of a task: REST for the tries Airflow records, the log file for any other attempt."""
        logs = {n: self.task_log(run, task_id, n) for n in self.task_tries(run, task_id)}
        for path in self.task_log_files(run):
            attempt = re.fullmatch(r"attempt=(\d+)\.log", path.name)
            if attempt and path.parent.name == f"task_id={task_id}" and int(attempt[1]) not in logs:
                logs[int(attempt[1])] = path.read_text(errors="replace")
        return dict(sorted(logs.items()))

    def task_log_files(self, run: DagRunRef | None = None) -> list[Path]:
        """Task log files under ``$AIRFLOW_HOME/logs`` (of ``run``, or of every run)."""
        root = self.home / "logs"
        pattern = "dag_id=*/**/*.log" if run is None else f"dag_id={run.dag_id}/run_id={run.run_id}/**/*.log"
        return sorted(p for p in root.glob(pattern) if p.is_file())

    def component_log_path(self, name: str) -> Path:
        """The stdout/stderr file of a component: ``api-server``, ``scheduler``, ``dag-processor``, ``triggerer``."""
        return self.api.log_path if name == "api-server" else self.log_paths[name]

    def component_log(self, name: str) -> str:
        try:
            return self.component_log_path(name).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def component_log_tail(self, name: str, lines: int = 60) -> str:
        return "\n".join(self.component_log(name).splitlines()[-lines:])

    def all_files(self, *, exclude: Iterable[Path] = ()) -> list[Path]:
        """Every regular file under AIRFLOW_HOME (logs of all kinds, config, stores), minus ``exclude``."""
        skip = [Path(p).resolve() for p in exclude]
        out = []
        for path in sorted(self.home.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            resolved = path.resolve()
            if any(resolved == s or s in resolved.parents for s in skip):
                continue
            out.append(path)
        return out

    def dump_database(self, timeout: float = 60.0) -> str:
        """The whole metadata database as SQL text (``pg_dump``; for SQLite, ``iterdump``)."""
        if self.db == "sqlite":
            import sqlite3

            with contextlib.closing(sqlite3.connect(self.home / "airflow.db")) as conn:
                return "\n".join(conn.iterdump())
        cmd = ["pg_dump", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "--no-owner", str(self.db_name)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise AirflowProcessError(f"pg_dump failed ({result.returncode}): {result.stderr[-500:]}")
        return result.stdout

    # --------------------------------------------------------------------- CLI
    def airflow(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``airflow *args`` with the deployment's environment."""
        return run_airflow(self.home, *args, env=self.env, timeout=timeout, check=check)

    # --------------------------------------------------------------------- teardown
    def stop(self, timeout: float = 20.0) -> None:
        """Stop every component (process groups: SIGTERM, then SIGKILL), then drop the database. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._session is not None:
            self._session.close()
        for proc in self.processes.values():
            killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
            killpg(proc.pid, signal.SIGKILL)  # task processes, serve-logs, workers still in the group
        self.api.stop()
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        atexit.unregister(self.stop)

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def bundle_config(dags_folders: Sequence[Path | str], *, refresh_interval: int = 5) -> str:
    """``[dag_processor] dag_bundle_config_list`` JSON: one LocalDagBundle per folder (named after it)."""
    bundles = []
    seen: set[str] = set()
    for folder in dags_folders:
        path = Path(folder).resolve()
        name = "_".join(path.parts[-2:]).replace("/", "_").replace(".", "_") or "dags"
        while name in seen:
            name += "_"
        seen.add(name)
        bundles.append(
            {
                "name": name,
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(path), "refresh_interval": refresh_interval},
            }
        )
    return json.dumps(bundles)


def start_deployment(
    home: Path,
    *,
    dags_folders: Sequence[Path | str],
    env: Mapping[str, str | None] | None = None,
    executor: str = "LocalExecutor",
    db: str = "postgres",
    users: Mapping[str, str] | None = None,
    wait_for_dags: Iterable[str] = (),
    timeout: float = 120.0,
    api_host: str = "127.0.0.1",
    components: Sequence[str] = COMPONENTS,
) -> Deployment:
    """Migrate a fresh metadata DB and start api-server, scheduler, dag-processor and triggerer.

    :param home: AIRFLOW_HOME (created); all logs go below it.
    :param dags_folders: folders served as DAG bundles (``LocalDagBundle``).
    :param env: extra environment for every process (``AIRFLOW_CONN_*``, ``AIRFLOW__...``); wins over the
        defaults (:data:`DEFAULT_SETTINGS`, a generated Fernet key, JWT secret and log-server ports).
    :param db: ``"postgres"`` (a new database on the local server, dropped at stop) or ``"sqlite"``.
    :param users: SimpleAuthManager users for the api-server (default ``{"admin": "ADMIN"}``).
    :param wait_for_dags: DAG ids to wait for (parsed and serialized) before returning.
    :param api_host: the address the api-server binds (and every process reaches it at): loopback, or an
        address that other test hosts reach too (:mod:`tests.support.celery_deployment`).
    :raises DeploymentUnavailable: PostgreSQL is unreachable (only for ``db="postgres"``).
    """
    from cryptography.fernet import Fernet

    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    cleanups: list[Callable[[], None]] = []
    if db == "postgres":
        db_name, db_url = create_postgres_database()
        cleanups.append(lambda: drop_postgres_database(db_name))
    elif db == "sqlite":
        db_name, db_url = None, f"sqlite:///{home / 'airflow.db'}"
    else:
        raise ValueError(f"db must be 'postgres' or 'sqlite', not {db!r}")

    shared: dict[str, str | None] = {
        **DEFAULT_SETTINGS,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": bundle_config(dags_folders),
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(dags_folders[0]).resolve()) if dags_folders else str(home / "dags"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
    }
    if db == "postgres":
        # The api-server's async engine: psycopg 3 is async-capable (Airflow would otherwise pick asyncpg).
        shared["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = db_url
    shared.update(env or {})

    deployment: Deployment | None = None
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        run_airflow(home, "db", "migrate", env=shared, timeout=300)
        api = start_api_server(home, env=shared, users=users, timeout=timeout, host=api_host)
        shared["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = api.url("/execution/")
        child_env = airflow_env(home, shared)
        log_paths = {}
        for name in components:
            log_paths[name] = home / f"{name}.log"
            processes[name] = _spawn(home, name, child_env, log_paths[name])
        deployment = Deployment(
            home=home,
            api=api,
            env={k: v for k, v in shared.items() if v is not None},
            processes=processes,
            log_paths=log_paths,
            db=db,
            db_url=db_url,
            db_name=db_name,
            cleanups=cleanups,
        )
        atexit.register(deployment.stop)
        deployment.wait_until_healthy(timeout)
        if wait_for_dags:
            deployment.wait_for_dags(wait_for_dags, timeout)
        return deployment
    except BaseException:
        if deployment is not None:
            deployment.stop()
        else:
            for proc in processes.values():
                killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(NameError):
                api.stop()
            for cleanup in reversed(cleanups):
                with contextlib.suppress(Exception):
                    cleanup()
        raise


def _spawn(home: Path, name: str, env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    return spawn_logged([*airflow_executable(), name], env, home, log_path)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
