"""Token store in files on local disk, shared by every process of the host (one token per host, not per task)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import tempfile
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path

from airflow_oauth_connector import config
from airflow_oauth_connector.config import StoreBackend
from airflow_oauth_connector.exceptions import TokenStoreError, TokenStoreLockTimeoutError
from airflow_oauth_connector.status import StatusRecord
from airflow_oauth_connector.store.codec import TokenCodec, key_digest
from airflow_oauth_connector.store.locks import TwoLevelLock
from airflow_oauth_connector.token import Token

log = logging.getLogger(__name__)

_DIR_MODE = 0o700
_FILE_MODE = 0o600
_TMP_PREFIX = ".tmp-"
_STALE_TMP_SECONDS = 600.0
_POLL_MIN = 0.005
_POLL_MAX = 0.05


def default_token_directory() -> Path:
    """``[oauth_connector] token_directory``, else ``$AIRFLOW_HOME/oauth_connector/tokens``."""
    return config.token_directory()


class FileTokenStore:
    """
    One file per cache key in ``directory`` (default ``$AIRFLOW_HOME/oauth_connector/tokens``, mode 0700).

    * Files are ``<sha256(key)>.token`` (mode 0600), written atomically: a temporary file in the same
      directory is written, fsynced and renamed over the old one, so a reader sees the old token or the
      new one, never a mix, even if the writer is killed half-way.
    * Contents are encrypted with Airflow's Fernet key when one is configured, plain JSON otherwise.
    * ``lock(key)`` is an exclusive ``flock`` on ``<sha256(key)>.lock``: it excludes threads and processes
      of this host; the kernel drops it when the holder dies, so a crashed task cannot block the others.
      Waiting is bounded by ``wait_timeout`` seconds, then :class:`TokenStoreLockTimeoutError` is raised.
    * A file that is corrupt, truncated or cannot be decrypted reads as "no token" (a warning is logged,
      without its contents); the next caller fetches a new token and overwrites it.

    Processes on *different* hosts do not share this store unless ``directory`` is on a shared file system
    whose ``flock`` works across clients (NFSv4 usually does, many FUSE file systems do not): use the Redis
    store for multi-host deployments.
    """

    backend = StoreBackend.FILE.value

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        wait_timeout: float = 60.0,
        codec: TokenCodec | None = None,
    ) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_token_directory()
        self.wait_timeout = wait_timeout
        self._codec = codec
        self._codec_guard = threading.Lock()
        self._ready = False
        self._lock = TwoLevelLock(self.backend, wait_timeout, self._acquire_flock, _release_flock)

    def __repr__(self) -> str:
        return f"FileTokenStore(directory={str(self.directory)!r})"

    @property
    def codec(self) -> TokenCodec:
        with self._codec_guard:
            if self._codec is None:
                self._codec = TokenCodec.from_config()
            return self._codec

    # -- paths ---------------------------------------------------------------------------------------

    def path_for(self, key: str, kind: str = "token") -> Path:
        return self.directory / f"{key_digest(key)}.{kind}"

    def _prepare(self) -> None:
        if self._ready:
            return
        try:
            self.directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        except OSError as exc:
            raise TokenStoreError(f"Cannot create the token directory {self.directory}: {exc.strerror}") from None
        with contextlib.suppress(OSError):  # not ours to change (e.g. a shared directory): keep going
            if self.directory.stat().st_mode & 0o077:
                os.chmod(self.directory, _DIR_MODE)
        self._remove_stale_temporaries()
        self._ready = True

    def _remove_stale_temporaries(self) -> None:
        """Temporary files of writers that were killed before renaming them."""
        cutoff = time.time() - _STALE_TMP_SECONDS
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.directory):
                if entry.name.startswith(_TMP_PREFIX):
                    with contextlib.suppress(OSError):
                        if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                            os.unlink(entry.path)

    # -- raw I/O -------------------------------------------------------------------------------------

    def _read(self, path: Path, what: str) -> bytes | None:
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("Cannot read %s (%s); treating it as empty", what, exc.strerror)
            return None

    def _write(self, path: Path, data: bytes) -> None:
        self._prepare()
        try:
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=self.directory)  # created with mode 0600
        except FileNotFoundError:  # the directory was removed under a long-running process
            self._ready = False
            self._prepare()
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), _FILE_MODE)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._sync_directory()

    def _sync_directory(self) -> None:
        """Make the rename durable (a power cut must not bring back the old token after a rotation)."""
        with contextlib.suppress(OSError):
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _unlink(self, path: Path) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        self._sync_directory()

    # -- TokenStore ----------------------------------------------------------------------------------

    def load(self, key: str) -> Token | None:
        path = self.path_for(key)
        found = self.codec.decode_token(key, self._read(path, f"token file {path}"), what=f"token file {path}")
        return None if found is None else found[0]

    def save(self, key: str, token: Token) -> None:
        self._write(self.path_for(key), self.codec.encode_token(key, token))

    def delete(self, key: str) -> None:
        self._unlink(self.path_for(key))

    def lock(self, key: str) -> AbstractContextManager[object]:
        return self._lock.hold(key)

    def _acquire_flock(self, key: str, deadline: float) -> int:
        self._prepare()
        path = self.path_for(key, "lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
        except OSError as exc:
            raise TokenStoreError(f"Cannot open the lock file {path}: {exc.strerror}") from None
        pause = _POLL_MIN
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise TokenStoreError(f"Cannot lock {path}: {exc.strerror}") from None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TokenStoreLockTimeoutError(self.backend, key, self.wait_timeout)
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, _POLL_MAX)
        except BaseException:
            os.close(fd)
            raise

    # -- status records ----------------------------------------------------------------------

    def save_status(self, key: str, status: StatusRecord) -> None:
        self._write(self.path_for(key, "status"), self.codec.encode_status(key, status))

    def load_status(self, key: str) -> StatusRecord | None:
        path = self.path_for(key, "status")
        return self.codec.decode_status(key, self._read(path, f"status file {path}"), what=f"status file {path}")

    def clear_status(self, key: str) -> None:
        self._unlink(self.path_for(key, "status"))


def _release_flock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
