"""FileTokenStore on the real file system, with real threads and processes."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import threading
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from airflow_oauth_connector.exceptions import TokenStoreError, TokenStoreLockTimeout
from airflow_oauth_connector.status import AuthState, TokenStatus
from airflow_oauth_connector.store.codec import TokenCodec
from airflow_oauth_connector.store.file import FileTokenStore
from tests.support.builders import ACCESS, REFRESH, make_token
from tests.support.store_worker import expect_line, start_worker

KEY = "my_api:0123456789abcdef"


@pytest.fixture
def store(tmp_path: Path) -> FileTokenStore:
    return FileTokenStore(tmp_path / "tokens", wait_timeout=5)


def take_lock(store: FileTokenStore, key: str) -> None:
    with store.lock(key):
        pass


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_directory_0700_files_0600_and_no_leftover_temporaries(store: FileTokenStore) -> None:
    store.save(KEY, make_token())
    with store.lock(KEY):
        pass
    assert mode(store.directory) == 0o700
    names = sorted(p.name for p in store.directory.iterdir())
    assert all(mode(store.directory / n) == 0o600 for n in names)
    assert [n.rsplit(".", 1)[1] for n in names] == ["lock", "token"]
    assert KEY not in " ".join(names)  # file names are hashes of the key


def test_default_directory_is_under_airflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    store = FileTokenStore()
    store.save(KEY, make_token())
    assert store.directory == tmp_path / "home" / "oauth_connector" / "tokens"
    assert mode(store.directory) == 0o700
    assert store.load(KEY) is not None


def test_plaintext_json_without_a_fernet_key(store: FileTokenStore) -> None:
    store.save(KEY, make_token())
    raw = store.path_for(KEY).read_bytes()
    record = json.loads(raw)
    assert record["key"] == KEY
    assert record["token"]["access_token"] == ACCESS
    assert mode(store.path_for(KEY)) == 0o600


def test_encrypted_when_a_fernet_key_is_configured(tmp_path: Path, fernet_key: str) -> None:
    store = FileTokenStore(tmp_path)
    assert store.codec.encrypted
    store.save(KEY, make_token())
    raw = store.path_for(KEY).read_bytes()
    assert ACCESS.encode() not in raw
    assert REFRESH.encode() not in raw
    assert b"access_token" not in raw
    assert Fernet(fernet_key.encode()).decrypt(raw).startswith(b"{")
    assert store.load(KEY) == FileTokenStore(tmp_path).load(KEY)
    assert store.load(KEY) is not None


def test_key_rotation_and_wrong_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    FileTokenStore(tmp_path, codec=TokenCodec(old)).save(KEY, make_token())
    assert FileTokenStore(tmp_path, codec=TokenCodec(f"{new},{old}")).load(KEY) is not None
    with caplog.at_level(logging.WARNING):
        assert FileTokenStore(tmp_path, codec=TokenCodec(new)).load(KEY) is None
        assert FileTokenStore(tmp_path, codec=TokenCodec(None)).load(KEY) is None
    assert "cannot be decrypted" in caplog.text
    assert "no [core] fernet_key" in caplog.text


def test_plaintext_file_still_readable_after_a_key_is_configured(tmp_path: Path) -> None:
    FileTokenStore(tmp_path, codec=TokenCodec(None)).save(KEY, make_token())
    assert FileTokenStore(tmp_path, codec=TokenCodec(Fernet.generate_key().decode())).load(KEY) is not None


def test_invalid_fernet_key_is_an_error_not_a_silent_plaintext_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "not-a-fernet-key")
    with pytest.raises(TokenStoreError, match="not a valid Fernet key") as info:
        FileTokenStore(tmp_path).save(KEY, make_token())
    assert "not-a-fernet-key" not in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b'{"v": 1, "key": "my_api:0123456789abcdef", "token": {"access_tok', b"\x00\xff garbage", b"[]"],
    ids=["empty", "brace", "truncated", "binary", "not-an-object"],
)
def test_corrupt_file_reads_as_no_token_and_is_overwritten(
    store: FileTokenStore, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store.save(KEY, make_token())
    store.path_for(KEY).write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert store.load(KEY) is None
    assert "Ignoring" in caplog.text
    token = make_token()
    store.save(KEY, token)
    assert store.load(KEY) == token


def test_warnings_never_show_token_values(store: FileTokenStore, caplog: pytest.LogCaptureFixture) -> None:
    store.save(KEY, make_token())
    path = store.path_for(KEY)
    path.write_bytes(path.read_bytes()[:-20])  # truncated: the start still holds the access token
    with caplog.at_level(logging.DEBUG):
        assert store.load(KEY) is None
    assert ACCESS not in caplog.text
    assert REFRESH not in caplog.text


def test_record_for_another_key_is_ignored(store: FileTokenStore) -> None:
    store.save("other:key", make_token())
    store.path_for(KEY).write_bytes(store.path_for("other:key").read_bytes())
    assert store.load(KEY) is None


def test_save_replaces_atomically_readers_never_see_a_partial_file(store: FileTokenStore) -> None:
    big = "x" * 300_000
    store.save(KEY, make_token(f"0-{big}"))
    original = open(store.path_for(KEY), "rb")  # noqa: SIM115 - kept open: its inode cannot be reused meanwhile
    original_bytes = original.read()
    stop = threading.Event()
    seen: list[str | None] = []

    def reader() -> None:
        while not stop.is_set():
            token = store.load(KEY)
            seen.append(None if token is None else token.access_token[:8])

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(1, 40):
        store.save(KEY, make_token(f"{i}-{big}"))
    stop.set()
    for t in threads:
        t.join()
    assert seen
    assert None not in seen  # every read found a complete, decodable token
    # replaced by rename, never rewritten in place: the first file is unlinked and still holds its bytes
    assert os.fstat(original.fileno()).st_nlink == 0
    original.seek(0)
    assert original.read() == original_bytes
    original.close()
    assert not [p for p in store.directory.iterdir() if p.name.startswith(".tmp-")]


def test_stale_temporaries_of_killed_writers_are_cleaned_up(tmp_path: Path) -> None:
    FileTokenStore(tmp_path).save(KEY, make_token())
    stale = tmp_path / ".tmp-deadbeef"
    fresh = tmp_path / ".tmp-cafebabe"
    stale.write_bytes(b"half a tok")
    fresh.write_bytes(b"being written")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert FileTokenStore(tmp_path).load(KEY) is not None
    FileTokenStore(tmp_path).save(KEY, make_token())
    assert not stale.exists()
    assert fresh.exists()  # might belong to a live writer


def test_lock_excludes_other_threads(store: FileTokenStore) -> None:
    inside = 0
    overlaps = 0
    guard = threading.Lock()

    def worker() -> None:
        nonlocal inside, overlaps
        for _ in range(5):
            with store.lock(KEY):
                with guard:
                    inside += 1
                    overlaps += inside > 1
                time.sleep(0.002)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == 0


def test_lock_excludes_other_processes_waits_are_bounded_and_a_killed_holder_frees_it(tmp_path: Path) -> None:
    worker = start_worker(
        {
            "mode": "hold_lock",
            "key": KEY,
            "write_inside": True,
            "store": {"backend": "file", "directory": str(tmp_path)},
        }
    )
    try:
        expect_line(worker, "locked")
        expect_line(worker, "written")
        store = FileTokenStore(tmp_path, wait_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TokenStoreLockTimeout, match="another process is still refreshing") as info:
            take_lock(store, KEY)
        assert 0.5 <= time.monotonic() - started < 3
        assert info.value.key == KEY
        with store.lock("other:key"):  # other keys are not blocked
            pass

        os.kill(worker.pid, signal.SIGKILL)  # crash while holding the lock
        worker.wait(timeout=10)
        started = time.monotonic()
        with FileTokenStore(tmp_path, wait_timeout=5).lock(KEY):
            assert time.monotonic() - started < 1
            token = store.load(KEY)
            assert token is not None
            assert token.access_token == "written-by-holder"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_writer_killed_mid_write_leaves_a_readable_store(tmp_path: Path) -> None:
    worker = start_worker(
        {"mode": "write_loop", "key": KEY, "size": 2_000_000, "store": {"backend": "file", "directory": str(tmp_path)}}
    )
    try:
        expect_line(worker, "writing")
        deadline = time.monotonic() + 10
        while not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.001)  # wait until it is in the middle of a write
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    store = FileTokenStore(tmp_path, wait_timeout=2)
    token = store.load(KEY)
    assert token is None or token.access_token.startswith("loop-")
    with store.lock(KEY):  # the kernel released the dead writer's lock
        store.save(KEY, make_token("recovered"))
    token = store.load(KEY)
    assert token is not None
    assert token.access_token == "recovered"


def test_status_file_is_private(store: FileTokenStore, fernet_key: str) -> None:
    store.save_status(KEY, TokenStatus(state=AuthState.NEEDS_REAUTHORIZATION))
    assert mode(store.path_for(KEY, "status")) == 0o600


def test_directory_removed_under_a_running_process_is_recreated(store: FileTokenStore) -> None:
    import shutil

    store.save(KEY, make_token())
    shutil.rmtree(store.directory)
    assert store.load(KEY) is None
    store.save(KEY, make_token())
    assert store.load(KEY) is not None
    assert mode(store.directory) == 0o700
