"""RedisTokenStore against the real Redis server on loopback (skipped with the reason when there is none)."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from airflow_oauth_connector.exceptions import TokenStoreError, TokenStoreLockTimeout
from airflow_oauth_connector.status import AuthState, TokenStatus
from airflow_oauth_connector.store.redis import RedisTokenStore, redact_redis_url
from tests.support.builders import ACCESS, REFRESH, make_token
from tests.support.store_worker import expect_line, start_worker
from tests.unit.store.conftest import REDIS_URL, redis_client_or_skip

KEY = "my_api:0123456789abcdef"


def take_lock(store: RedisTokenStore, key: str) -> None:
    with store.lock(key):
        pass


@pytest.fixture
def raw() -> Iterator[object]:
    client = redis_client_or_skip()
    yield client
    client.close()


@pytest.fixture
def store(redis_prefix: str) -> RedisTokenStore:
    return RedisTokenStore(REDIS_URL, prefix=redis_prefix, lock_timeout=5, wait_timeout=5)


def test_default_url_comes_from_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RedisTokenStore().url == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("AIRFLOW__OAUTH_CONNECTOR__REDIS_URL", "redis://redis.internal:6380/2")
    assert RedisTokenStore().url == "redis://redis.internal:6380/2"


def test_plaintext_without_a_key_encrypted_with_one(store: RedisTokenStore, raw, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store.save(KEY, make_token())
    assert json.loads(raw.get(store.redis_key(KEY)))["token"]["access_token"] == ACCESS

    key = Fernet.generate_key()
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", key.decode())
    encrypted = RedisTokenStore(REDIS_URL, prefix=store.prefix)
    encrypted.save(KEY, make_token())
    value = raw.get(store.redis_key(KEY))
    assert ACCESS.encode() not in value
    assert REFRESH.encode() not in value
    assert Fernet(key).decrypt(value).startswith(b"{")
    assert encrypted.load(KEY) is not None


def test_ttl_only_for_tokens_without_a_refresh_token(store: RedisTokenStore, raw) -> None:  # type: ignore[no-untyped-def]
    store.save(KEY, make_token(refresh=None, lifetime=600))
    ttl = raw.pttl(store.redis_key(KEY)) / 1000
    assert 600 + store.ttl_margin - 5 < ttl <= 600 + store.ttl_margin
    store.save(KEY, make_token(refresh=REFRESH, lifetime=600))
    assert raw.pttl(store.redis_key(KEY)) == -1  # kept: the refresh token outlives the access token
    store.save(KEY, make_token(refresh=None, lifetime=-10_000))  # long expired: still a short positive TTL
    assert 0 < raw.pttl(store.redis_key(KEY)) <= 1000


def test_corrupt_value_reads_as_no_token(store: RedisTokenStore, raw, caplog) -> None:  # type: ignore[no-untyped-def]
    for value in (b"", b"{trunc", b"gAAAAAB-not-really-fernet", json.dumps({"v": 1, "key": KEY}).encode()):
        raw.set(store.redis_key(KEY), value)
        with caplog.at_level(logging.WARNING):
            assert store.load(KEY) is None
    assert "Ignoring" in caplog.text


def test_unreachable_redis_is_a_typed_error_without_the_password() -> None:
    store = RedisTokenStore("redis://user:hunter2@127.0.0.1:1/0")
    with pytest.raises(TokenStoreError, match=r"127\.0\.0\.1") as info:
        store.load(KEY)
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(store)
    assert redact_redis_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"


def test_lock_excludes_other_threads_and_other_store_objects(redis_prefix: str) -> None:
    stores = [RedisTokenStore(REDIS_URL, prefix=redis_prefix, wait_timeout=10) for _ in range(3)]
    inside = 0
    overlaps = 0
    guard = threading.Lock()

    def worker(store: RedisTokenStore) -> None:
        nonlocal inside, overlaps
        for _ in range(4):
            with store.lock(KEY):
                with guard:
                    inside += 1
                    overlaps += inside > 1
                time.sleep(0.003)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == 0


def test_lock_wait_is_bounded(store: RedisTokenStore, redis_prefix: str) -> None:
    other = RedisTokenStore(REDIS_URL, prefix=redis_prefix, wait_timeout=0.3)
    with store.lock(KEY):
        started = time.monotonic()
        with pytest.raises(TokenStoreLockTimeout), other.lock(KEY):
            pytest.fail("got a held lock")
        assert 0.25 <= time.monotonic() - started < 2  # redis-py gives up one poll interval early


def test_a_live_holder_keeps_its_lock_past_lock_timeout(redis_prefix: str) -> None:
    holder = RedisTokenStore(REDIS_URL, prefix=redis_prefix, lock_timeout=0.4)
    other = RedisTokenStore(REDIS_URL, prefix=redis_prefix, wait_timeout=1.2)
    # 1.2 s > 3 x lock_timeout: the watchdog kept extending it
    with holder.lock(KEY), pytest.raises(TokenStoreLockTimeout):
        take_lock(other, KEY)
    with other.lock(KEY):
        pass


def test_lock_excludes_other_processes_and_a_killed_holder_frees_it_after_lock_timeout(redis_prefix: str) -> None:
    redis_client_or_skip()
    spec = {"backend": "redis", "url": REDIS_URL, "prefix": redis_prefix, "lock_timeout": 1.0}
    worker = start_worker({"mode": "hold_lock", "key": KEY, "write_inside": True, "store": spec})
    try:
        expect_line(worker, "locked")
        expect_line(worker, "written")
        with pytest.raises(TokenStoreLockTimeout):
            take_lock(RedisTokenStore(REDIS_URL, prefix=redis_prefix, wait_timeout=1.5), KEY)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        started = time.monotonic()
        store = RedisTokenStore(REDIS_URL, prefix=redis_prefix, wait_timeout=5)
        with store.lock(KEY):
            assert time.monotonic() - started < 1.5  # the dead holder's lock expired by itself
            token = store.load(KEY)
            assert token is not None
            assert token.access_token == "written-by-holder"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_status_has_no_ttl(store: RedisTokenStore, raw, fernet_key: str) -> None:  # type: ignore[no-untyped-def]
    store.save_status(KEY, TokenStatus(state=AuthState.NEEDS_REAUTHORIZATION))
    assert raw.pttl(store.redis_key(KEY, "status")) == -1
