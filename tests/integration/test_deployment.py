"""The provider in a REAL multi-process Airflow deployment (api-server, scheduler with the LocalExecutor,
dag-processor, triggerer; PostgreSQL metadata DB), against the real DOT authorization server.

Proof 1 (one token for the whole deployment): 20 tasks in 20 task processes, each calling the API through its
own hook, cost ONE token request with the file store and ONE with the Redis store (counted by the
authorization server); the per-process memory store is measured for comparison (one per task process).

Proof 2 (secret hygiene in a real run): the example DAGs and deliberately failing tasks run; afterwards no
client secret, refresh token or access token issued to our clients during the module appears in any task
log (REST and files), any component log or other file under AIRFLOW_HOME, any XCom, rendered field, DAG run,
task instance, event log or connection as the REST API shows them.

The deployment starts once for the module (~35 s). Skips if PostgreSQL (127.0.0.1:5432) is unreachable;
only the Redis case skips if Redis (127.0.0.1:6379) is.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.store.codec import TokenCodec
from airflow_oauth_connector.store.file import FileTokenStore
from tests.support.airflow_deployment import DagRunRef, Deployment, postgres_available, start_deployment
from tests.support.connections import connection
from tests.support.consent import obtain_refresh_token

# a real multi-process Airflow deployment starts in the first test: longer than the default per-test timeout
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("OAUTH_CONNECTOR_IT_REDIS_URL", "redis://127.0.0.1:6379/0")
PARALLEL_DAG = "oauth_parallel_tasks"
PARALLEL_TASKS = 20
EXAMPLE_DAGS = (
    "oauth_client_credentials_pagination",
    "oauth_authorization_code_refresh",
    "oauth_post_with_response_check",
)
HYGIENE_DAG = "oauth_hygiene_checks"
RUN_TIMEOUT = 150.0


# ------------------------------------------------------------------------------------------------- helpers
def _redis_client():  # type: ignore[no-untyped-def]
    """A Redis client if the server answers a PING within 2 s, else ``None``."""
    try:
        import redis
    except ImportError:
        return None
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        return None
    return client


def _conn(auth_server: Any, client: str, *, secret: str | None = None, **extra: Any) -> dict[str, Any]:
    return connection(auth_server, client, **({} if secret is None else {"secret": secret}), **extra)


def _ac_extra(auth_server: Any) -> dict[str, Any]:
    return {
        "grant_type": "authorization_code",
        "access_url": auth_server.token_url,
        "authorize_url": auth_server.authorize_url,
        "scope": "read write",
    }


def _refresh_token(auth_server: Any) -> str:
    """A real refresh token for the ``ac`` client (authorization code + PKCE, consent by the seeded user)."""
    return obtain_refresh_token(auth_server)


def _auth_db(auth_server: Any) -> sqlite3.Connection:
    path = Path(auth_server.data_dir) / "authserver.sqlite3"
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


def _max_token_ids(auth_server: Any) -> tuple[int, int]:
    with _auth_db(auth_server) as db:
        at = db.execute("SELECT COALESCE(MAX(id), 0) FROM oauth2_provider_accesstoken").fetchone()[0]
        rt = db.execute("SELECT COALESCE(MAX(id), 0) FROM oauth2_provider_refreshtoken").fetchone()[0]
    return int(at), int(rt)


def _issued_tokens(auth_server: Any, since: tuple[int, int], client_ids: Iterable[str]) -> dict[str, str]:
    """Every access/refresh token the server issued to ``client_ids`` after ``since`` (still in its DB)."""
    ids = list(client_ids)
    marks = ",".join("?" * len(ids))
    out: dict[str, str] = {}
    with _auth_db(auth_server) as db:
        for table, kind, after in (
            ("oauth2_provider_accesstoken", "access token", since[0]),
            ("oauth2_provider_refreshtoken", "refresh token", since[1]),
        ):
            rows = db.execute(
                f"SELECT t.id, t.token, a.client_id FROM {table} t JOIN oauth2_provider_application a "
                f"ON a.id = t.application_id WHERE t.id > ? AND a.client_id IN ({marks})",
                [after, *ids],
            ).fetchall()
            for row_id, token, client_id in rows:
                out[token] = f"{kind} #{row_id} of {client_id}"
    return out


def _basic(client_id: str, secret: str) -> str:
    from urllib.parse import quote_plus

    return base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()


@dataclass
class Secrets:
    """Known secret strings, each with a label that says what it is (the label is printed, never the value)."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, value: str | None, label: str) -> None:
        if not value or len(value) < 12:
            return
        self.values.setdefault(value, label)
        # A truncated secret is still a leak: look for a long prefix and suffix too.
        if len(value) >= 24:
            self.values.setdefault(value[:16], f"first 16 chars of {label}")
            self.values.setdefault(value[-16:], f"last 16 chars of {label}")

    def find(self, text: str, where: str) -> list[str]:
        """Findings in ``text`` as 'where:line: label: <the line, secret redacted>' (no secret in the output)."""
        if not text:
            return []
        hits = [(v, label) for v, label in self.values.items() if v in text]
        findings = []
        for value, label in hits:
            for number, line in enumerate(text.splitlines(), 1):
                if value in line:
                    shown = line
                    for v in self.values:
                        shown = shown.replace(v, f"<REDACTED {self.values[v]}>")
                    findings.append(f"{where}:{number}: {label}: {shown[:400]}")
                    break
        return findings


@dataclass
class Env:
    deployment: Deployment
    auth_server: Any
    redis: Any
    redis_prefix: str
    fernet_key: str
    started_ids: tuple[int, int]
    refresh_token: str
    wrong_secret: str
    figures: dict[str, Any] = field(default_factory=dict)
    runs: list[DagRunRef] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def env(auth_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    reason = postgres_available()
    if reason:
        pytest.skip(f"the real-deployment tests need PostgreSQL: {reason}")
    redis_client = _redis_client()
    redis_prefix = f"oauth_connector_it_{secrets.token_hex(4)}:"
    wrong_secret = "wrong-" + secrets.token_urlsafe(30)
    started_ids = _max_token_ids(auth_server)
    connections = {
        "oauth_par_cc": _conn(auth_server, "cc", store_backend="file"),
        "oauth_par_cc_memory": _conn(auth_server, "cc", store_backend="memory"),
        "oauth_demo_cc": _conn(auth_server, "cc", store_backend="file"),
        "oauth_bad_secret": _conn(auth_server, "cc", secret=wrong_secret, store_backend="file"),
    }
    if redis_client is not None:
        connections["oauth_par_cc_redis"] = _conn(auth_server, "cc", store_backend="redis")
    from cryptography.fernet import Fernet

    fernet_key = Fernet.generate_key().decode()
    extra_env = {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(c) for conn_id, c in connections.items()}
    extra_env.update(
        {
            "AIRFLOW__CORE__FERNET_KEY": fernet_key,  # token files are encrypted at rest, like connections
            "AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE": "file",
            "AIRFLOW__OAUTH_CONNECTOR__REDIS_URL": REDIS_URL,
            "AIRFLOW__OAUTH_CONNECTOR__REDIS_PREFIX": redis_prefix,
        }
    )
    t0 = time.monotonic()
    deployment = start_deployment(
        tmp_path_factory.mktemp("deployment_home"),
        dags_folders=[REPO / "dags", REPO / "tests" / "dags"],
        env=extra_env,
        wait_for_dags=[PARALLEL_DAG, HYGIENE_DAG, DEFERRABLE_DAG, SENSOR_DAG, *EXAMPLE_DAGS],
    )
    try:
        state = Env(
            deployment=deployment,
            auth_server=auth_server,
            redis=redis_client,
            redis_prefix=redis_prefix,
            fernet_key=fernet_key,
            started_ids=started_ids,
            refresh_token=_refresh_token(auth_server),
            wrong_secret=wrong_secret,
        )
        state.figures["deployment_start_s"] = round(time.monotonic() - t0, 1)
        yield state
        print(f"\n[test_deployment] figures: {json.dumps(state.figures, sort_keys=True)}")
    finally:
        deployment.stop()
        if redis_client is not None:
            for key in redis_client.scan_iter(match=redis_prefix + "*"):
                redis_client.delete(key)
            redis_client.close()


DEFERRABLE_DAG = "oauth_deferrable"
SENSOR_DAG = "oauth_sensor_deferrable"


def _max_overlap(results: list[dict[str, Any]]) -> int:
    events = sorted([(r["started"], 1) for r in results] + [(r["ended"], -1) for r in results])
    current = best = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def _parallel_run(env: Env, conn_id: str) -> tuple[int, dict[str, Any]]:
    deployment = env.deployment
    env.auth_server.reset_stats()
    t0 = time.monotonic()
    run = deployment.run_dag(PARALLEL_DAG, conf={"conn_id": conn_id}, timeout=RUN_TIMEOUT)
    elapsed = time.monotonic() - t0
    stats = env.auth_server.stats()
    env.runs.append(run)
    assert run.state == "success", deployment.describe_run(run)
    results = [deployment.xcom(run, f"call_{i:02d}") for i in range(PARALLEL_TASKS)]
    assert {tuple(r["clients"]) for r in results} == {(env.auth_server.client("cc").client_id,)}
    info = {
        "token_requests": stats["token_requests"]["total"],
        "token_errors": stats["token_requests"]["errors"],
        "api_requests": stats["api_requests"]["by_path"].get("/api/whoami", 0),
        "task_processes": len({r["pid"] for r in results}),
        "max_tasks_running_at_once": _max_overlap(results),
        "run_seconds": round(elapsed, 1),
    }
    env.figures[conn_id] = info
    return int(stats["token_requests"]["total"]), info


# -------------------------------------------------------------------------------------- proof 1: one token
@pytest.mark.parametrize("backend", ["file", "redis"])
def test_parallel_tasks_share_one_token(env: Env, backend: str) -> None:
    if backend == "redis" and env.redis is None:
        pytest.skip(f"Redis at {REDIS_URL} is unreachable")
    conn_id = "oauth_par_cc" if backend == "file" else "oauth_par_cc_redis"
    token_requests, info = _parallel_run(env, conn_id)
    assert info["task_processes"] == PARALLEL_TASKS, info
    assert info["api_requests"] == PARALLEL_TASKS * 3, info
    assert token_requests == 1, info
    if backend == "redis":
        assert list(env.redis.scan_iter(match=env.redis_prefix + "*")), "no token record in Redis"
    else:
        assert list((env.deployment.home / "oauth_connector" / "tokens").glob("*.token")), "no token file"


def test_memory_store_costs_one_token_per_task_process(env: Env) -> None:
    token_requests, info = _parallel_run(env, "oauth_par_cc_memory")
    # Naive per-process caching: every task process fetches its own token.
    assert 1 < token_requests <= info["task_processes"], info


# ---------------------------------------------------------------------------------- proof 2: secret hygiene
def _create_ac_connection(env: Env) -> None:
    conn = _conn(env.auth_server, "ac", **_ac_extra(env.auth_server), refresh_token=env.refresh_token)
    body = {
        "connection_id": "oauth_demo_ac",
        "conn_type": conn["conn_type"],
        "host": conn["host"],
        "login": conn["login"],
        "password": conn["password"],
        "extra": json.dumps({**conn["extra"], "store_backend": "file"}),
    }
    env.deployment.request("POST", "/api/v2/connections", json=body, expect=(201,))


def _known_secrets(env: Env) -> Secrets:
    known = Secrets()
    cc, ac = env.auth_server.client("cc"), env.auth_server.client("ac")
    for client, secret in ((cc, cc.client_secret), (ac, ac.client_secret), (cc, env.wrong_secret)):
        label = "wrong client secret" if secret == env.wrong_secret else f"client secret of {client.client_id}"
        known.add(secret, label)
        known.add(_basic(client.client_id, secret), f"HTTP Basic credentials with the {label}")
    known.add(env.refresh_token, "the connection's refresh token")
    for token, label in _issued_tokens(env.auth_server, env.started_ids, [cc.client_id, ac.client_id]).items():
        known.add(token, label)
    return known


def _stored_token(env: Env, conn_id: str, conn: dict[str, Any]) -> Any:
    profile = OAuthProfile.from_fields(
        conn_id, host=conn["host"], login=conn["login"], password=conn["password"], extra=conn["extra"]
    )
    store = FileTokenStore(env.deployment.home / "oauth_connector" / "tokens", codec=TokenCodec(env.fernet_key))
    return store.load(profile.cache_key)


def test_no_secret_anywhere_after_a_real_run(env: Env) -> None:
    deployment = env.deployment
    _create_ac_connection(env)
    env.auth_server.reset_stats()

    t0 = time.monotonic()
    # With a logical date, as the UI's trigger form sends: oauth_post_with_response_check templates {{ ds }},
    # which is undefined in a run without one (see test_example_dag_without_logical_date).
    canary = "canary-" + secrets.token_urlsafe(24)
    pending = [deployment.trigger(dag_id, logical_date=True) for dag_id in EXAMPLE_DAGS]
    pending.append(deployment.trigger(HYGIENE_DAG, {"canary": canary}, logical_date=True))
    runs = [deployment.wait(run, timeout=RUN_TIMEOUT) for run in pending]
    env.figures["hygiene_runs_s"] = round(time.monotonic() - t0, 1)
    env.runs.extend(runs)
    by_dag = {run.dag_id: run for run in runs}
    for dag_id in EXAMPLE_DAGS:
        assert by_dag[dag_id].state == "success", deployment.describe_run(by_dag[dag_id])

    # The example DAGs did their job (so the secrets were really used).
    example = by_dag["oauth_client_credentials_pagination"]
    assert deployment.xcom(example, "summarise") == {"count": 95, "first": "item-1", "last": "item-95"}
    ac_run = by_dag["oauth_authorization_code_refresh"]
    assert deployment.xcom(ac_run, "whoami")["user"] == env.auth_server.username
    assert deployment.xcom(by_dag["oauth_post_with_response_check"], "post_event")["event"] == "run-finished"

    # The hygiene DAG failed where it should, with the errors we expect.
    hygiene = by_dag[HYGIENE_DAG]
    states = deployment.task_states(hygiene)
    assert states == {
        "missing_endpoint": "failed",
        "wrong_secret": "failed",
        "check_rejects": "failed",
        "canary": "success",
        "log_objects": "success",
    }, deployment.describe_run(hygiene)
    expected_errors = {
        "missing_endpoint": "ApiResponseError",
        "wrong_secret": "InvalidClientError",
        "check_rejects": "response_check",
    }
    for task_id, marker in expected_errors.items():
        text = deployment.task_log(hygiene, task_id)
        assert marker in text, f"{task_id}: {marker!r} not in its log:\n{text[-3000:]}"

    # The deployment used real tokens, and we know them: the CC token in the (encrypted) file store is one
    # of those the authorization server issued during this module.
    known = _known_secrets(env)
    stored = _stored_token(env, "oauth_demo_cc", _conn(env.auth_server, "cc", store_backend="file"))
    assert stored is not None
    assert stored.access_token in known.values
    env.figures["known_secret_strings"] = sum(
        1 for label in known.values.values() if not label.startswith(("first", "last"))
    )

    findings: list[str] = []
    checked: dict[str, int] = {}
    control = Secrets()
    control.add(canary, "canary")
    canary_seen: set[str] = set()

    def scan(text: str, where: str, kind: str) -> None:
        checked[kind] = checked.get(kind, 0) + 1
        findings.extend(known.find(text, where))
        if control.find(text, where):
            canary_seen.add(where)

    # 1. Every task log through REST, and every file under AIRFLOW_HOME (task logs, scheduler/triggerer/
    #    dag-processor/api-server output, dag-processor file logs, airflow.cfg, the token store, ...).
    for run in env.runs:
        for ti in deployment.task_instances(run):
            where = f"REST log {run.dag_id}/{ti['task_id']}"
            scan(
                deployment.task_log(run, ti["task_id"], max(int(ti.get("try_number") or 1), 1)), where, "REST task logs"
            )
            scan(json.dumps(ti), f"REST task instance {run.dag_id}/{ti['task_id']}", "REST task instances")
            scan(json.dumps(deployment.rendered_fields(run, ti["task_id"])), where + " rendered", "rendered fields")
        scan(json.dumps(deployment.dag_run(run)), f"REST dag run {run.dag_id}", "REST dag runs")
        for entry in deployment.xcom_entries(run):
            value = deployment.xcom_entry(run, entry["task_id"], entry["key"], map_index=entry.get("map_index", -1))
            scan(json.dumps(value), f"REST XCom {run.dag_id}/{entry['task_id']}/{entry['key']}", "XCom values")
    for path in deployment.all_files():
        text = path.read_bytes().decode("utf-8", errors="replace")
        scan(text, str(path.relative_to(deployment.home)), "files under AIRFLOW_HOME")
    for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
        assert deployment.component_log(name), f"{name} wrote no log"
    assert deployment.task_log_files(), "no task log files"

    # 2. The DB-defined connection as the REST API shows it (single and list), and the audit log.
    conn_view = deployment.request("GET", "/api/v2/connections/oauth_demo_ac")
    scan(json.dumps(conn_view), "REST GET /api/v2/connections/oauth_demo_ac", "REST connection")
    scan(
        json.dumps(deployment.request("GET", "/api/v2/connections")), "REST GET /api/v2/connections", "REST connection"
    )
    extra = json.loads(conn_view.get("extra") or "{}")
    assert extra.get("refresh_token") in (None, "***"), "refresh_token not masked in the REST connection"
    assert conn_view.get("password") in (None, "", "***"), "password not masked in the REST connection"
    events = deployment.request("GET", "/api/v2/eventLogs", params={"limit": 1000})
    scan(json.dumps(events), "REST GET /api/v2/eventLogs", "REST event log")

    # 3. The metadata database itself (every table: connection, XCom, rendered fields, logs, ...).
    if deployment.db == "sqlite" or shutil.which("pg_dump"):
        scan(deployment.dump_database(), "metadata DB dump", "metadata DB dump")
    else:
        env.figures["metadata_db_dump"] = "not scanned: pg_dump is not on PATH"

    # Positive control: the canary the 'canary' task printed unmasked IS found by the same scan in the task's
    # REST log, its log file and the scheduler's own log, so a leaked secret would have been found there too.
    canary_log = f"REST log {HYGIENE_DAG}/canary"
    canary_file = next(
        str(p.relative_to(deployment.home)) for p in deployment.task_log_files(hygiene) if "task_id=canary" in str(p)
    )
    missing = {canary_log, canary_file, "scheduler.log"} - canary_seen
    assert not missing, f"the scan did not see the printed canary in {sorted(missing)} (seen in {sorted(canary_seen)})"
    env.figures["canary_seen_in"] = sorted(canary_seen)

    env.figures["hygiene_checked"] = checked
    env.figures["hygiene_findings"] = len(findings)
    assert not findings, "secrets found:\n" + "\n".join(findings)


def test_redacted_connection_keeps_non_secret_fields_readable(env: Env) -> None:
    """The REST view must still be useful: URLs and the grant type are shown as configured."""
    if "oauth_demo_ac" not in {
        c["connection_id"] for c in env.deployment.request("GET", "/api/v2/connections")["connections"]
    }:
        _create_ac_connection(env)
    view = env.deployment.request("GET", f"/api/v2/connections/{quote('oauth_demo_ac')}")
    extra = json.loads(view["extra"])
    assert extra["access_url"] == env.auth_server.token_url
    assert extra["grant_type"] == "authorization_code"
    assert view["login"] == env.auth_server.client("ac").client_id
    assert re.fullmatch(r"\*+", extra["refresh_token"])


def test_example_dag_without_logical_date(env: Env) -> None:
    run = env.deployment.run_dag("oauth_post_with_response_check", timeout=RUN_TIMEOUT)
    env.runs.append(run)
    assert run.state == "success", env.deployment.describe_run(run)


# ------------------------------------------------------------------------- deferrable calls in the triggerer
def test_deferrable_operator_runs_its_calls_in_the_real_triggerer(env: Env) -> None:
    env.auth_server.reset_stats()
    run = env.deployment.run_dag(DEFERRABLE_DAG, timeout=RUN_TIMEOUT)
    env.runs.append(run)
    assert run.state == "success", env.deployment.describe_run(run)
    records = env.deployment.xcom(run, "fetch_items_deferred")
    assert [r["id"] for r in records] == list(range(1, 46))
    assert env.deployment.xcom(run, "post_deferred") == {"deferred": True, "run_id": run.run_id}
    stats = env.auth_server.stats()
    tries = {ti["task_id"]: ti["try_number"] for ti in env.deployment.task_instances(run)}
    env.figures["deferrable_tries"] = tries  # > 1 only when Airflow's defer race (apache/airflow#72716) hit
    assert stats["api_requests"]["by_path"].get("/api/echo") == tries["post_deferred"]  # once per try
    assert stats["api_requests"]["by_path"].get("/api/items", 0) >= 3  # three pages, three deferrals
    final = env.deployment.task_log(run, "fetch_items_deferred", tries["fetch_items_deferred"])
    assert final.count("Pausing task as DEFERRED") == 3  # each page's call went to the triggerer


def test_sensor_deferrable_and_reschedule_with_a_401_on_one_poll(env: Env) -> None:
    env.auth_server.reset_stats()
    run = env.deployment.run_dag(SENSOR_DAG, timeout=RUN_TIMEOUT)
    env.runs.append(run)
    assert run.state == "success", env.deployment.describe_run(run)
    stats = env.auth_server.stats()
    polls = {
        task: sum(n for path, n in stats["api_requests"]["by_path"].items() if path.startswith(f"/api/jobs/{task}-"))
        for task in ("wait_deferrable", "wait_reschedule")
    }
    # per sensor: poll 1 running, poll 2 answered 401 → token renewed → replay (poll 3) running, poll 4 done
    # (more only when Airflow's defer race, see oauth_deferrable.py, made a task retry after a poll)
    assert min(polls.values()) >= 4, polls
    assert stats["token_requests"]["total"] >= 1  # the renewal after the 401 (earlier tokens came from the store)
    # every try's log (a try failed by Airflow's defer race may have no history record, only its log file)
    logs = env.deployment.task_logs(run, "wait_deferrable")
    assert sum(log.count("Pausing task as DEFERRED") for log in logs.values()) >= 1, sorted(logs)
    # every poll of the deferrable sensor was made by the triggerer: its worker never poked
    assert not any("Poking GET" in log for log in logs.values())
    reschedule_logs = env.deployment.task_logs(run, "wait_reschedule")
    assert "Poking GET" in reschedule_logs[max(reschedule_logs)]
