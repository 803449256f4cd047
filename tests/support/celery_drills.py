"""Many workers on many hosts: the lab (CeleryExecutor, workers as network namespaces) and its measured scenarios.

Shared by ``tests/integration/test_celery_hosts.py`` (which asserts on the figures) and
``benchmarks/celery_hosts.py`` (which prints them). :func:`start_lab` starts, on the test hosts' service
address (:mod:`tests.support.netns_hosts`):

* the test authorization server (django-oauth-toolkit: rotation on, reuse detection on, grace window
  settable at run time) and its demo API,
* the token store's Redis as production runs it: an ACL user with a password, TLS only (a test CA,
  ``rediss://``), AOF with ``appendfsync always`` (:mod:`tests.support.redis_server`),
* Airflow with the CeleryExecutor and one Celery worker per host (:mod:`tests.support.celery_deployment`).

Each scenario function runs ``tests/dags/oauth_celery_tasks.py`` and returns a dict of figures (token
requests counted by the server, ``invalid_grant`` answers, revoked grant families, tasks per host, ...).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.airflow_deployment import DagRunRef, postgres_available
from tests.support.authserver.runner import AuthServer, start_auth_server
from tests.support.celery_deployment import CeleryDeployment, start_celery_deployment
from tests.support.connections import connection
from tests.support.consent import obtain_refresh_token
from tests.support.netns_hosts import Hosts, create_hosts, unavailable_reason
from tests.support.redis_server import RedisServer, redis_unavailable, start_redis

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "oauth_celery_tasks"
RETRYING_DAG_ID = "oauth_celery_tasks_retrying"
RUN_TIMEOUT = 600.0
AUTH_SERVER_DEPS = ("django", "oauth2_provider", "waitress")


def lab_unavailable() -> str | None:
    """Why the lab cannot run here (for a skip), or ``None``."""

    reason = unavailable_reason() or redis_unavailable(tls=True) or postgres_available()
    if reason:
        return reason
    missing = [m for m in (*AUTH_SERVER_DEPS, "celery", "airflow.providers.celery") if not _importable(m)]
    return f"not importable: {', '.join(missing)}" if missing else None


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@dataclass
class RunResult:
    run: DagRunRef
    seconds: float
    stats: dict[str, Any]
    task_instances: list[dict[str, Any]]
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def states(self) -> Counter[str]:
        return Counter(str(ti["state"]) for ti in self.mapped)

    @property
    def mapped(self) -> list[dict[str, Any]]:
        return [ti for ti in self.task_instances if ti["task_id"] == "call_api"]

    @property
    def per_host(self) -> dict[str, int]:
        return dict(Counter(str(ti.get("hostname")) for ti in self.mapped))

    @property
    def token_requests(self) -> int:
        return int(self.stats["token_requests"]["total"])

    @property
    def invalid_grants(self) -> int:
        return int(self.stats["token_requests"].get("by_error", {}).get("invalid_grant", 0))


@dataclass
class Lab:
    """The running lab; see the module docstring."""

    tmp: Path
    hosts: Hosts
    auth: AuthServer
    store: RedisServer
    celery: CeleryDeployment
    fernet_key: str
    prefix: str
    figures: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ connections
    def cc_connection(self, conn_id: str, **extra: Any) -> str:
        return self._create(conn_id, connection(self.auth, "cc", allow_insecure_http=True, **extra))

    def ac_connection(self, conn_id: str, refresh_token: str, **extra: Any) -> str:
        body = connection(
            self.auth,
            "ac",
            grant_type="authorization_code",
            authorize_url=self.auth.authorize_url,
            refresh_token=refresh_token,
            allow_insecure_http=True,
            **extra,
        )
        return self._create(conn_id, body)

    def _create(self, conn_id: str, body: dict[str, Any]) -> str:
        """Create the connection through the REST API (the workers read it from there); its token cache key."""
        from airflow_oauth_connector.profile import OAuthProfile

        payload = {
            "connection_id": conn_id,
            "conn_type": body["conn_type"],
            "host": body["host"],
            "login": body["login"],
            "password": body["password"],
            "extra": json.dumps(body["extra"]),
        }
        self.celery.request("POST", "/api/v2/connections", json=payload, expect=(201,))
        profile = OAuthProfile.from_fields(
            conn_id, host=body["host"], login=body["login"], password=body["password"], extra=body["extra"]
        )
        return profile.cache_key

    def refresh_token(self) -> str:
        """A fresh grant (its own token family at the server): authorize once as the seeded user."""
        from airflow_oauth_connector.profile import OAuthProfile

        client = self.auth.client("ac")
        profile = OAuthProfile.from_fields(
            "oauth_cel_consent",
            host=self.auth.api_base,
            login=client.client_id,
            password=client.client_secret,
            extra={
                "grant_type": "authorization_code",
                "access_url": self.auth.token_url,
                "authorize_url": self.auth.authorize_url,
                "scope": "read write",
                "allow_insecure_http": True,  # the server is on the test hosts' private address, not loopback
            },
        )
        return obtain_refresh_token(self.auth, profile)

    # ------------------------------------------------------------------ runs
    def trigger(self, conn_id: str, *, tasks: int, dag_id: str = DAG_ID, **conf: Any) -> DagRunRef:
        self.auth.reset_stats()
        return self.celery.trigger(dag_id, {"conn_id": conn_id, "tasks": tasks, **conf})

    def finish(self, run: DagRunRef, started: float, *, timeout: float = RUN_TIMEOUT) -> RunResult:
        run = self.celery.wait(run, timeout=timeout)
        seconds = time.monotonic() - started
        stats = self.auth.stats()
        tis = self.celery.task_instances(run)
        result = RunResult(run=run, seconds=round(seconds, 1), stats=stats, task_instances=tis)
        for ti in result.mapped:
            if ti["state"] == "success":
                result.results.append(self.celery.xcom(run, "call_api", map_index=int(ti["map_index"])))
        return result

    def run(self, conn_id: str, *, tasks: int, timeout: float = RUN_TIMEOUT, **conf: Any) -> RunResult:
        started = time.monotonic()
        return self.finish(self.trigger(conn_id, tasks=tasks, **conf), started, timeout=timeout)

    # ------------------------------------------------------------------ the server's view of a grant
    def grant_alive(self, refresh_token: str) -> bool:
        """Whether the grant (token family) that ``refresh_token`` started still has a usable refresh token."""
        path = Path(str(self.auth.data_dir)) / "authserver.sqlite3"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            row = db.execute(
                "SELECT token_family FROM oauth2_provider_refreshtoken WHERE token = ?", (refresh_token,)
            ).fetchone()
            if row is None:
                raise AssertionError("the server does not know that refresh token")
            alive = db.execute(
                "SELECT COUNT(*) FROM oauth2_provider_refreshtoken WHERE token_family = ? AND revoked IS NULL",
                (row[0],),
            ).fetchone()[0]
        return bool(alive)

    # ------------------------------------------------------------------ teardown
    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.celery.stop()
        with contextlib.suppress(Exception):
            self.store.stop()
        with contextlib.suppress(Exception):
            self.auth.stop()
        self.hosts.remove()


def store_url(store: RedisServer) -> str:
    """The Redis store's URL as a user configures it (credentials in it; the CA file is its own option)."""
    return store.url(0)


def start_lab(tmp: Path, *, workers: int = 2, concurrency: int = 8) -> Lab:
    """Start the lab of the module docstring; everything started is stopped again on failure."""
    from cryptography.fernet import Fernet

    tmp = Path(tmp)
    hosts = create_hosts(workers)
    auth: AuthServer | None = None
    store: RedisServer | None = None
    try:
        auth = start_auth_server(tmp / "authserver", host=hosts.service_address)
        store = start_redis(tmp / "store", bind=hosts.service_address, user="oauth", tls=True, appendonly=True)
        fernet_key = Fernet.generate_key().decode()
        prefix = f"oauth_connector_it_{secrets.token_hex(4)}:"
        env = {
            "AIRFLOW__CORE__FERNET_KEY": fernet_key,
            "AIRFLOW__OAUTH_CONNECTOR__REDIS_URL": store_url(store),
            "AIRFLOW__OAUTH_CONNECTOR__REDIS_CA_FILE": str(store.ca_file),
            "AIRFLOW__OAUTH_CONNECTOR__REDIS_PREFIX": prefix,
        }
        celery = start_celery_deployment(
            tmp / "airflow",
            hosts=hosts,
            dags_folders=[REPO / "tests" / "dags"],
            env=env,
            concurrency=concurrency,
            wait_for_dags=[DAG_ID, RETRYING_DAG_ID],
        )
    except BaseException:
        if store is not None:
            store.stop()
        if auth is not None:
            auth.stop()
        hosts.remove()
        raise
    return Lab(tmp=tmp, hosts=hosts, auth=auth, store=store, celery=celery, fernet_key=fernet_key, prefix=prefix)


# ============================================================================================== scenarios
def spread(result: RunResult, lab: Lab) -> dict[str, Any]:
    """Where the tasks ran: per worker address, and that each host had its own AIRFLOW_HOME and namespace."""
    homes = {r["worker"]: r["airflow_home"] for r in result.results}
    namespaces = {r["worker"]: r["netns"] for r in result.results}
    return {
        "tasks_per_host": result.per_host,
        "hosts_used": len(homes),
        "distinct_airflow_homes": len(set(homes.values())),
        "distinct_network_namespaces": len(set(namespaces.values())),
    }


def one_token(lab: Lab, backend: str, *, tasks: int = 50) -> dict[str, Any]:
    """Client credentials, ``tasks`` parallel tasks over the hosts, ``backend`` store: token requests."""
    conn_id = f"oauth_cel_cc_{backend}"
    lab.cc_connection(conn_id, store_backend=backend)
    result = lab.run(conn_id, tasks=tasks)
    return {
        "tasks": tasks,
        "states": dict(result.states),
        "token_requests": result.token_requests,
        "api_requests": result.stats["api_requests"]["by_path"].get("/api/whoami", 0),
        "run_seconds": result.seconds,
        **spread(result, lab),
    }


def rotating(lab: Lab, *, tasks: int = 50, store_backend: str | None = "redis", renew: bool = True) -> dict[str, Any]:
    """Authorization code with rotating refresh tokens, reuse detection at the server; every task refreshes.

    ``store_backend=None``: nothing configured on the connection nor as ``[oauth_connector] token_store`` (the
    default must be safe). ``renew``: each task forces one refresh (as after a 401), so the run rotates the
    grant ``tasks`` times across the hosts.
    """
    refresh_token = lab.refresh_token()
    conn_id = f"oauth_cel_ac_{store_backend or 'default'}_{secrets.token_hex(3)}"
    lab.ac_connection(conn_id, refresh_token, **({"store_backend": store_backend} if store_backend else {}))
    result = lab.run(conn_id, tasks=tasks, renew=renew)
    return {
        "tasks": tasks,
        "store_backend": store_backend or "(none configured)",
        "states": dict(result.states),
        "token_requests": result.token_requests,
        "refresh_requests": result.stats["token_requests"]["by_grant_type"].get("refresh_token", 0),
        "invalid_grant": result.invalid_grants,
        "revoked_grants": 0 if lab.grant_alive(refresh_token) else 1,
        "run_seconds": result.seconds,
        **spread(result, lab),
        **({"failures": failure_tails(lab, result)} if set(result.states) != {"success"} else {}),
    }


def failure_tails(lab: Lab, result: RunResult, lines: int = 25) -> dict[int, str]:
    """Per mapped task that did not succeed (map index): the end of its log on its worker's disk, to say why."""
    tails: dict[int, str] = {}
    for ti in result.mapped:
        if ti["state"] == "success":
            continue
        index = int(ti["map_index"])
        texts = [path.read_text(errors="replace") for path in lab.celery.task_log_files(result.run, "call_api", index)]
        tails[index] = "\n".join("\n".join(texts).splitlines()[-lines:]) or "(no log file on the workers)"
    return tails


# ------------------------------------------------------------------------------------------- fault drills
def _redis_store(lab: Lab) -> Any:
    """The product's Redis store, configured like the deployment's (to read what the tasks wrote)."""
    from airflow_oauth_connector.store.codec import TokenCodec
    from airflow_oauth_connector.store.redis import RedisTokenStore

    return RedisTokenStore(
        store_url(lab.store), prefix=lab.prefix, codec=TokenCodec(lab.fernet_key), ca_file=str(lab.store.ca_file)
    )


def _iso(value: str | None) -> float | None:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def _wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.2)


def _refreshes(stats: dict[str, Any]) -> int:
    return int(stats["token_requests"]["by_grant_type"].get("refresh_token", 0))


def _log_lines(lab: Lab, result: RunResult, needle: str) -> dict[int, str]:
    """Per mapped task (map index): the text from ``needle`` on (300 characters) in its logs, read on its
    worker's disk (the first occurrence)."""
    found: dict[int, str] = {}
    for ti in result.mapped:
        index = int(ti["map_index"])
        for path in lab.celery.task_log_files(result.run, "call_api", index):
            text = path.read_text(errors="replace")
            at = text.find(needle)
            if at >= 0:
                found.setdefault(index, text[at : at + 300])
    return found


def kill_mid_refresh(lab: Lab, *, grace_seconds: int, tasks: int = 16, hold_response: float = 8.0) -> dict[str, Any]:
    """SIGKILL the task process that holds the refresh lock, after the server rotated the grant (issue 14, 3a).

    The server holds the rotated answer back ``hold_response`` seconds; the drill finds the holder from the
    store's "refresh in flight" record (``host:pid``), kills it, and lets the run finish. ``grace_seconds``: the
    server's grace window for the refresh token just rotated away (0: none).
    """
    refresh_token = lab.refresh_token()
    conn_id = f"oauth_cel_kill_{grace_seconds}_{secrets.token_hex(3)}"
    key = lab.ac_connection(conn_id, refresh_token, store_backend="redis")
    store = _redis_store(lab)
    lab.auth.configure(refresh_grace_seconds=grace_seconds, refresh_delay_seconds=hold_response)
    try:
        started = time.monotonic()
        run = lab.trigger(conn_id, tasks=tasks)

        def rotated_in_flight() -> Any:
            status = store.load_status(key)
            in_flight = getattr(status, "in_flight", None)
            return in_flight if in_flight is not None and _refreshes(lab.auth.stats()) >= 1 else None

        in_flight = _wait_until(rotated_in_flight, 300, "a rotated refresh in flight")
        pid = int(in_flight.holder.rpartition(":")[2])
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        refreshes_before_kill = _refreshes(lab.auth.stats())
        lab.auth.configure(refresh_delay_seconds=0)
        result = lab.finish(run, started)
    finally:
        lab.auth.configure(refresh_grace_seconds=0, refresh_delay_seconds=0)
    records = lab.auth.token_requests()
    rejected = [r for r in records if r.get("error") == "invalid_grant"]
    ends = [_iso(ti.get("end_date")) for ti in result.mapped if ti["state"] == "failed"]
    fail_fast = _log_lines(lab, result, f"Connection '{conn_id}' needs authorization: its refresh token was rejected")
    figures: dict[str, Any] = {
        "tasks": tasks,
        "grace_window_seconds": grace_seconds,
        "states": dict(result.states),
        "refresh_requests_after_kill": _refreshes(result.stats) - refreshes_before_kill,
        "invalid_grant": result.invalid_grants,
        "tasks_recovered": result.states.get("success", 0),
        "tasks_other_than_the_killed_one": tasks - 1,
        "revoked_grants": 0 if lab.grant_alive(refresh_token) else 1,
        "run_seconds": result.seconds,
    }
    attempts = [float(r["time"]) for r in records if r.get("grant_type") == "refresh_token" and r["time"] > killed_at]
    if attempts:  # the one attempt with the refresh token held: the dead holder's lease ran out first
        figures["seconds_kill_to_recovery_attempt"] = round(min(attempts) - killed_at, 1)
    if rejected:
        marked = float(rejected[0]["time"])
        figures["seconds_kill_to_rejection"] = round(marked - killed_at, 1)  # includes the lock's expiry (30 s)
        figures["seconds_rejection_to_last_failure"] = round(max(e for e in ends if e) - marked, 1)
        figures["tasks_failed_fast"] = len(fail_fast)  # without a token request: ReauthorizationRequiredError
        figures["sample_fail_fast_message"] = next(iter(fail_fast.values()), "")
    return figures


def store_restart(lab: Lab, *, tasks: int = 24, down_for: float = 15.0) -> dict[str, Any]:
    """The store's Redis restarted mid-run (AOF on): rotating refreshes in every task; Airflow retries a task
    whose store call failed; nothing rotated may be lost."""
    refresh_token = lab.refresh_token()
    conn_id = f"oauth_cel_restart_{secrets.token_hex(3)}"
    key = lab.ac_connection(conn_id, refresh_token, store_backend="redis")
    started = time.monotonic()
    run = lab.trigger(conn_id, tasks=tasks, dag_id=RETRYING_DAG_ID, renew=True, hold=3.0)

    def some_done() -> bool:
        states = Counter(ti["state"] for ti in lab.celery.task_instances(run) if ti["task_id"] == "call_api")
        return states.get("success", 0) >= 2

    _wait_until(some_done, 300, "two tasks done before the restart")
    lab.store.restart(down_for=down_for)
    result = lab.finish(run, started)
    stored = _redis_store(lab).load(key)
    retried = [ti for ti in result.mapped if int(ti.get("try_number") or 1) > 1]
    return {
        "tasks": tasks,
        "redis_down_seconds": down_for,
        "states": dict(result.states),
        "tasks_retried_by_airflow": len(retried),
        "tasks_that_met_a_store_error": len(_log_lines(lab, result, "Redis token store at rediss://")),
        "refresh_requests": _refreshes(result.stats),
        "invalid_grant": result.invalid_grants,
        "revoked_grants": 0 if lab.grant_alive(refresh_token) else 1,
        "rotated_token_kept": stored is not None and bool(stored.refresh_token),
        "run_seconds": result.seconds,
    }


def store_cut(lab: Lab, *, tasks: int = 16) -> dict[str, Any]:
    """One worker host cut off from the store's Redis (its packets to Redis silently dropped); the other not."""
    conn_id = f"oauth_cel_cut_{secrets.token_hex(3)}"
    lab.cc_connection(conn_id, store_backend="redis")
    cut, other = lab.hosts.hosts[0], lab.hosts.hosts[1]
    cut.cut_port(lab.store.port)
    try:
        result = lab.run(conn_id, tasks=tasks, hold=1.0)
    finally:
        cut.heal()
    by_host: dict[str, Counter[str]] = {}
    durations: dict[str, list[float]] = {}
    for ti in result.mapped:
        host = str(ti.get("hostname"))
        by_host.setdefault(host, Counter())[str(ti["state"])] += 1
        if ti.get("duration") is not None:
            durations.setdefault(host, []).append(float(ti["duration"]))
    messages = _log_lines(lab, result, "Redis token store at rediss://oauth:***@")
    cut_durations, other_durations = durations.get(cut.address, []), durations.get(other.address, [])
    return {
        "tasks": tasks,
        "cut_host": dict(by_host.get(cut.address, Counter())),
        "other_host": dict(by_host.get(other.address, Counter())),
        # Task durations as Airflow records them (task process start-up included; the host's own baseline beside)
        "max_task_seconds_on_cut_host": round(max(cut_durations), 1) if cut_durations else None,
        "max_task_seconds_on_other_host": round(max(other_durations), 1) if other_durations else None,
        "failures_naming_the_store": len(messages),
        "sample_message": next(iter(messages.values()), ""),
        "token_requests": result.token_requests,
    }


def token_endpoint_down(lab: Lab, *, tasks: int = 16, down_for: float = 30.0) -> dict[str, Any]:
    """The token endpoint answers 503 for ``down_for`` seconds from the start of the run; the connection's retry
    bounds (10 attempts within 120 s) outlast it."""
    conn_id = f"oauth_cel_down_{secrets.token_hex(3)}"
    lab.cc_connection(conn_id, store_backend="redis", retry_max_attempts=10, retry_max_seconds=120)
    lab.auth.reset_stats()
    lab.auth.configure(token_endpoint_down_seconds=down_for)
    result = lab.run(conn_id, tasks=tasks)
    return {
        "tasks": tasks,
        "down_seconds": down_for,
        "states": dict(result.states),
        "token_requests_refused_while_down": result.stats["token_requests"]["refused_while_down"],
        "token_requests_answered": result.token_requests,
        "run_seconds": result.seconds,
    }


DRILLS: dict[str, Callable[[Lab], dict[str, Any]]] = {
    "kill_grace": lambda lab: kill_mid_refresh(lab, grace_seconds=30),
    "kill_no_grace": lambda lab: kill_mid_refresh(lab, grace_seconds=0),
    "store_restart": store_restart,
    "store_cut": store_cut,
    "token_endpoint_down": token_endpoint_down,
}
