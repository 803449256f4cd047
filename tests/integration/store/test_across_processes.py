"""
Shared token stores across real processes, against the real authorization server (django-oauth-toolkit).

Each scenario runs one launcher process (``tests.support.store_worker``) that imports Airflow once and forks
N children; every child builds its own store object and ``OAuthConnectorHook`` from an ``AIRFLOW_CONN_<ID>``
environment variable, so the children share only the store's medium (a directory, a Redis server).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.store.file import FileTokenStore
from airflow_oauth_connector.store.redis import RedisTokenStore
from tests.support.connections import connection, connection_env
from tests.support.consent import obtain_refresh_token
from tests.support.store_worker import expect_line, run_launcher, start_worker, stopped
from tests.support.stores import REDIS_URL

# launchers fork 10-20 processes that each import Airflow (launcher timeout 120 s): longer than the default
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(params=["file", "redis"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "file":
        return {"backend": "file", "directory": str(tmp_path / "tokens")}
    return {"backend": "redis", "url": REDIS_URL, "prefix": request.getfixturevalue("redis_prefix")}


def conn_env(auth_server: Any, conn_id: str, client: str = "cc", **extra: Any) -> dict[str, str]:
    return connection_env(conn_id, connection(auth_server, client, **extra))


def profile_from(env: dict[str, str], conn_id: str) -> OAuthProfile:
    body = json.loads(env[f"AIRFLOW_CONN_{conn_id.upper()}"])
    return OAuthProfile.from_fields(
        conn_id, host=body["host"], login=body["login"], password=body["password"], extra=body["extra"]
    )


def token_requests(server: Any) -> int:
    return int(server.stats()["token_requests"]["total"])


def test_twenty_processes_needing_a_token_at_once_cause_one_token_request(
    auth_server: Any, store_spec: dict[str, Any]
) -> None:
    env = conn_env(auth_server, "shared_cc")
    auth_server.reset_stats()
    results = run_launcher(
        {"mode": "calls", "conn_id": "shared_cc", "store": store_spec, "processes": 20, "count": 5}, env
    )
    assert [r["errors"] for r in results] == [[]] * 20
    assert sum(len(r["statuses"]) for r in results) == 100
    assert {s for r in results for s in r["statuses"]} == {200}
    stats = auth_server.stats()
    assert stats["token_requests"]["total"] == 1
    assert stats["api_requests"]["total"] == 100


def _initial_refresh_token(auth_server: Any, env: dict[str, str], conn_id: str) -> str:
    return obtain_refresh_token(auth_server, profile_from(env, conn_id))


def test_rotating_refresh_tokens_across_processes_never_hit_invalid_grant(
    auth_server: Any, store_spec: dict[str, Any]
) -> None:
    ac = {"grant_type": "authorization_code", "authorize_url": auth_server.authorize_url}
    env = conn_env(auth_server, "rotating_ac", "ac", **ac)
    env = conn_env(
        auth_server, "rotating_ac", "ac", refresh_token=_initial_refresh_token(auth_server, env, "rotating_ac"), **ac
    )
    auth_server.reset_stats()
    results = run_launcher(
        {"mode": "renew", "conn_id": "rotating_ac", "store": store_spec, "processes": 10, "count": 20}, env
    )
    assert sum(r["invalid_grant"] for r in results) == 0
    assert [r["errors"] for r in results] == [[]] * 10
    assert {s for r in results for s in r["statuses"]} == {200}
    by_grant = auth_server.stats()["token_requests"]["by_grant_type"]
    assert by_grant == {"refresh_token": 200}  # every forced refresh used the newest refresh token


def _hook(env: dict[str, str], conn_id: str, store: Any, monkeypatch: pytest.MonkeyPatch) -> OAuthConnectorHook:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return OAuthConnectorHook(conn_id, token_store=store)


def test_file_store_recovers_from_a_process_killed_holding_the_lock_and_from_a_corrupt_file(
    auth_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = conn_env(auth_server, "crash_file")
    key = profile_from(env, "crash_file").cache_key
    spec = {"backend": "file", "directory": str(tmp_path)}
    with stopped(start_worker({"mode": "hold_lock", "key": key, "store": spec})) as holder:
        expect_line(holder, "locked")
        os.kill(holder.pid, signal.SIGKILL)  # dies mid-refresh, holding the lock
        holder.wait(timeout=10)
    store = FileTokenStore(tmp_path, wait_timeout=5)
    store.path_for(key).write_bytes(b'{"v": 1, "key": "crash_file:tru')  # and a torn file from somewhere
    auth_server.reset_stats()
    with FileTokenStore(tmp_path, wait_timeout=0).lock(key):  # free at once: the kernel dropped the dead holder's lock
        pass
    hook = _hook(env, "crash_file", store, monkeypatch)
    assert hook.run("whoami").status_code == 200
    assert token_requests(auth_server) == 1
    assert store.load(key) is not None
    assert OAuthConnectorHook("crash_file", token_store=FileTokenStore(tmp_path)).run("whoami").status_code == 200
    assert token_requests(auth_server) == 1


def test_redis_store_recovers_from_a_process_killed_holding_the_lock(
    auth_server: Any, redis_prefix: str, redis_raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = conn_env(auth_server, "crash_redis")
    key = profile_from(env, "crash_redis").cache_key
    spec = {"backend": "redis", "url": REDIS_URL, "prefix": redis_prefix, "lock_timeout": 1.0}
    with stopped(start_worker({"mode": "hold_lock", "key": key, "store": spec})) as holder:
        expect_line(holder, "locked")
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
    auth_server.reset_stats()
    store = RedisTokenStore(REDIS_URL, prefix=redis_prefix, wait_timeout=5)
    lock_ttl = redis_raw.pttl(store.redis_key(key, "lock"))
    assert lock_ttl == -2 or 0 < lock_ttl <= 1000  # gone, or the server expires it within lock_timeout
    hook = _hook(env, "crash_redis", store, monkeypatch)
    assert hook.run("whoami").status_code == 200  # waits at most the dead holder's remaining lock_timeout
    assert token_requests(auth_server) == 1
