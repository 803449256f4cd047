"""FileTokenStore on a temporary directory with real threads (other processes: tests/integration/store)."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from airflow_oauth_connector.exceptions import TokenStoreError
from airflow_oauth_connector.status import AuthState, TokenStatus
from airflow_oauth_connector.store.codec import TokenCodec
from airflow_oauth_connector.store.file import FileTokenStore
from tests.support.builders import ACCESS, REFRESH, make_token

KEY = "my_api:0123456789abcdef"


@pytest.fixture
def store(tmp_path: Path) -> FileTokenStore:
    return FileTokenStore(tmp_path / "tokens", wait_timeout=5)


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
