"""RedisTokenStore against the real Redis server on loopback (skipped with the reason when there is none)."""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet

from airflow_oauth_connector.exceptions import TokenStoreError, TokenStoreLockTimeoutError
from airflow_oauth_connector.status import AuthState, TokenStatus
from airflow_oauth_connector.store.redis import RedisTokenStore
from tests.support.builders import ACCESS, REFRESH, make_token
from tests.support.store_contract import StoreContract
from tests.support.store_worker import expect_line, start_worker, stopped
from tests.support.stores import REDIS_URL, manual_monotonic

pytestmark = pytest.mark.integration

KEY = "my_api:0123456789abcdef"


def take_lock(store: RedisTokenStore, key: str) -> None:
    with store.lock(key):
        pass


class TestRedisTokenStore(StoreContract):
    @pytest.fixture
    def make_store(self, redis_prefix: str) -> Callable[[], Any]:
        return lambda: RedisTokenStore(REDIS_URL, prefix=redis_prefix, lock_timeout=5, wait_timeout=5)


@pytest.fixture
def store(redis_prefix: str) -> RedisTokenStore:
    return RedisTokenStore(REDIS_URL, prefix=redis_prefix, lock_timeout=5, wait_timeout=5)


def test_plaintext_without_a_key_encrypted_with_one(store: RedisTokenStore, redis_raw, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store.save(KEY, make_token())
    assert json.loads(redis_raw.get(store.redis_key(KEY)))["token"]["access_token"] == ACCESS

    key = Fernet.generate_key()
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", key.decode())
    encrypted = RedisTokenStore(REDIS_URL, prefix=store.prefix)
    encrypted.save(KEY, make_token())
    value = redis_raw.get(store.redis_key(KEY))
    assert ACCESS.encode() not in value
    assert REFRESH.encode() not in value
    assert Fernet(key).decrypt(value).startswith(b"{")
    assert encrypted.load(KEY) is not None


def test_ttl_only_for_tokens_without_a_refresh_token(store: RedisTokenStore, redis_raw) -> None:  # type: ignore[no-untyped-def]
    store.save(KEY, make_token(refresh=None, lifetime=600))
    ttl = redis_raw.pttl(store.redis_key(KEY)) / 1000
    assert 600 + store.ttl_margin - 5 < ttl <= 600 + store.ttl_margin
    store.save(KEY, make_token(refresh=REFRESH, lifetime=600))
    assert redis_raw.pttl(store.redis_key(KEY)) == -1  # kept: the refresh token outlives the access token
    store.save(KEY, make_token(refresh=None, lifetime=-10_000))  # long expired: still a short positive TTL
    assert 0 < redis_raw.pttl(store.redis_key(KEY)) <= 1000


def test_corrupt_value_reads_as_no_token(store: RedisTokenStore, redis_raw, caplog) -> None:  # type: ignore[no-untyped-def]
    for value in (b"", b"{trunc", b"gAAAAAB-not-really-fernet", json.dumps({"v": 1, "key": KEY}).encode()):
        redis_raw.set(store.redis_key(KEY), value)
        with caplog.at_level(logging.WARNING):
            assert store.load(KEY) is None
    assert "Ignoring" in caplog.text


def test_unreachable_redis_is_a_typed_error_without_the_password() -> None:
    store = RedisTokenStore("redis://user:hunter2@127.0.0.1:1/0")
    with pytest.raises(TokenStoreError, match=r"127\.0\.0\.1") as info:
        store.load(KEY)
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(store)


def test_lock_wait_is_bounded(store: RedisTokenStore, redis_prefix: str) -> None:
    other = RedisTokenStore(REDIS_URL, prefix=redis_prefix, wait_timeout=0.3)
    with store.lock(KEY):
        with manual_monotonic() as clock, pytest.raises(TokenStoreLockTimeoutError), other.lock(KEY):
            pytest.fail("got a held lock")
        # it polled until the next try would pass the deadline: redis-py gives up one poll interval early
        assert 0.3 - 0.02 < clock.now <= 0.3
        assert len(clock.sleeps) > 1


def test_a_live_holder_keeps_its_lock_past_lock_timeout(redis_prefix: str) -> None:
    holder = RedisTokenStore(REDIS_URL, prefix=redis_prefix, lock_timeout=1.0)
    other = RedisTokenStore(REDIS_URL, prefix=redis_prefix, wait_timeout=3.2)
    # 3.2 s > 3 x lock_timeout: the watchdog (every lock_timeout / 3) kept extending it
    with holder.lock(KEY), pytest.raises(TokenStoreLockTimeoutError):
        take_lock(other, KEY)
    with other.lock(KEY):
        pass


def test_lock_excludes_other_processes_and_a_killed_holder_frees_it_after_lock_timeout(
    redis_prefix: str, redis_raw: Any
) -> None:
    # a lock_timeout far above the watchdog's tick (lock_timeout / 3), so a busy machine cannot let it lapse
    spec = {"backend": "redis", "url": REDIS_URL, "prefix": redis_prefix, "lock_timeout": 2.0}
    with stopped(start_worker({"mode": "hold_lock", "key": KEY, "write_inside": True, "store": spec})) as worker:
        expect_line(worker, "locked")
        expect_line(worker, "written")
        with pytest.raises(TokenStoreLockTimeoutError):
            take_lock(RedisTokenStore(REDIS_URL, prefix=redis_prefix, wait_timeout=1.5), KEY)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    store = RedisTokenStore(REDIS_URL, prefix=redis_prefix, wait_timeout=5)
    lock_ttl = redis_raw.pttl(store.redis_key(KEY, "lock"))
    assert lock_ttl == -2 or 0 < lock_ttl <= 2000  # nobody releases it: gone, or the server expires it in time
    with store.lock(KEY):
        token = store.load(KEY)
        assert token is not None
        assert token.access_token == "written-by-holder"


def test_status_has_no_ttl(store: RedisTokenStore, redis_raw, fernet_key: str) -> None:  # type: ignore[no-untyped-def]
    store.save_status(KEY, TokenStatus(state=AuthState.NEEDS_REAUTHORIZATION))
    assert redis_raw.pttl(store.redis_key(KEY, "status")) == -1
