"""FileTokenStore across real processes: a lock held by another process, and processes killed (SIGKILL) mid-way."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from airflow_oauth_connector.exceptions import TokenStoreLockTimeoutError
from airflow_oauth_connector.store.file import FileTokenStore
from tests.support.builders import make_token
from tests.support.store_worker import expect_line, start_worker, stopped
from tests.support.stores import manual_monotonic

pytestmark = pytest.mark.integration

KEY = "my_api:0123456789abcdef"


def take_lock(store: FileTokenStore, key: str) -> None:
    with store.lock(key):
        pass


def test_lock_excludes_other_processes_waits_are_bounded_and_a_killed_holder_frees_it(tmp_path: Path) -> None:
    spec = {
        "mode": "hold_lock",
        "key": KEY,
        "write_inside": True,
        "store": {"backend": "file", "directory": str(tmp_path)},
    }
    with stopped(start_worker(spec)) as worker:
        expect_line(worker, "locked")
        expect_line(worker, "written")
        store = FileTokenStore(tmp_path, wait_timeout=0.5)
        with (
            manual_monotonic() as clock,
            pytest.raises(TokenStoreLockTimeoutError, match="another process is still refreshing") as info,
        ):
            take_lock(store, KEY)
        assert clock.now == 0.5  # it waited exactly wait_timeout, polling, then gave up
        assert len(clock.sleeps) > 1
        assert info.value.key == KEY
        with store.lock("other:key"):  # other keys are not blocked
            pass

        os.kill(worker.pid, signal.SIGKILL)  # crash while holding the lock
        worker.wait(timeout=10)
        with manual_monotonic() as clock, FileTokenStore(tmp_path, wait_timeout=5).lock(KEY):
            assert clock.sleeps == []  # the kernel freed the dead holder's lock: taken at the first try
            token = store.load(KEY)
            assert token is not None
            assert token.access_token == "written-by-holder"


def test_writer_killed_mid_write_leaves_a_readable_store(tmp_path: Path) -> None:
    spec = {
        "mode": "write_loop",
        "key": KEY,
        "size": 2_000_000,
        "store": {"backend": "file", "directory": str(tmp_path)},
    }
    with stopped(start_worker(spec)) as worker:
        expect_line(worker, "writing")
        deadline = time.monotonic() + 10
        while not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.001)  # wait until it is in the middle of a write
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    store = FileTokenStore(tmp_path, wait_timeout=2)
    token = store.load(KEY)
    assert token is None or token.access_token.startswith("loop-")
    with store.lock(KEY):  # the kernel released the dead writer's lock
        store.save(KEY, make_token("recovered"))
    token = store.load(KEY)
    assert token is not None
    assert token.access_token == "recovered"
