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
import secrets
import sqlite3
import time
from collections import Counter
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
    def cc_connection(self, conn_id: str, **extra: Any) -> None:
        self._create(conn_id, connection(self.auth, "cc", allow_insecure_http=True, **extra))

    def ac_connection(self, conn_id: str, refresh_token: str, **extra: Any) -> None:
        body = connection(
            self.auth,
            "ac",
            grant_type="authorization_code",
            authorize_url=self.auth.authorize_url,
            refresh_token=refresh_token,
            allow_insecure_http=True,
            **extra,
        )
        self._create(conn_id, body)

    def _create(self, conn_id: str, body: dict[str, Any]) -> None:
        payload = {
            "connection_id": conn_id,
            "conn_type": body["conn_type"],
            "host": body["host"],
            "login": body["login"],
            "password": body["password"],
            "extra": json.dumps(body["extra"]),
        }
        self.celery.request("POST", "/api/v2/connections", json=payload, expect=(201,))

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
    }


# ------------------------------------------------------------------------------------------- fault drills
def _store_status(lab: Lab, conn_id: str) -> Any:
    """The connection's status record in the Redis store, decoded as the product reads it (or ``None``)."""

    store = _redis_store(lab)
    return store.load_status(_cache_key(lab, conn_id, store))


def _redis_store(lab: Lab) -> Any:
    from airflow_oauth_connector.store.codec import TokenCodec
    from airflow_oauth_connector.store.redis import RedisTokenStore

    return RedisTokenStore(
        store_url(lab.store), prefix=lab.prefix, codec=TokenCodec(lab.fernet_key), ca_file=str(lab.store.ca_file)
    )


def _cache_key(lab: Lab, conn_id: str, store: Any) -> str:
    from airflow_oauth_connector.profile import OAuthProfile

    body = lab.celery.request("GET", f"/api/v2/connections/{conn_id}")
    profile = OAuthProfile.from_fields(
        conn_id,
        host=body["host"],
        login=body["login"],
        password=body.get("password"),
        extra=json.loads(body.get("extra") or "{}"),
    )
    return profile.cache_key
