"""
What the persistent token stores share: reading provider settings, the Fernet envelope, typed errors.

A stored record is a small JSON document ``{"v": 1, "key": <cache key>, ...}``. When Airflow has a Fernet
key (``[core] fernet_key``, comma-separated for rotation) the JSON is encrypted with
:class:`cryptography.fernet.MultiFernet` exactly as Airflow encrypts connection passwords; without a key
it is stored as plain JSON (the stores still restrict who can read it). Decoding never raises: a record
that is corrupt, truncated, encrypted with another key or for another cache key reads as "nothing".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from airflow_oauth_connector.exceptions import OAuthConnectorError
from airflow_oauth_connector.token import Token

H = TypeVar("H")

log = logging.getLogger(__name__)

CONFIG_SECTION = "oauth_connector"
RECORD_VERSION = 1
MAX_RECORD_BYTES = 1024 * 1024
# The Task SDK's config parser leaves the unexpanded template default when no key is configured.
_UNSET_FERNET_VALUES = frozenset({"", "{FERNET_KEY}"})


class TokenStoreError(OAuthConnectorError):
    """A token store could not be used (unreachable server, unusable configuration)."""


class TokenStoreLockTimeout(TokenStoreError):
    """Another process held a token's refresh lock for longer than the store waits."""

    def __init__(self, store: str, key: str, waited: float) -> None:
        self.store = store
        self.key = key
        self.waited = waited
        super().__init__(
            f"Timed out after {waited:.0f} s waiting for the {store} token store's lock on {key!r}: another "
            f"process is still refreshing this token (or is stuck doing so). Retry the task; if this persists, "
            f"check the token endpoint's latency and the processes using this connection"
        )


def config_option(name: str, default: str | None = None) -> str | None:
    """``[oauth_connector] <name>`` from Airflow config (env ``AIRFLOW__OAUTH_CONNECTOR__<NAME>`` included)."""
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # pragma: no cover - Task SDK is part of Airflow 3.x
        from airflow.configuration import conf
    value = conf.get(CONFIG_SECTION, name, fallback=None)
    if value is None:
        return default
    text = str(value).strip()
    return text or default


def configured_fernet_key() -> str | None:
    """Airflow's ``[core] fernet_key`` if one is configured, else ``None``."""
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # pragma: no cover
        from airflow.configuration import conf
    value = conf.get("core", "fernet_key", fallback=None)
    text = str(value or "").strip()
    return None if text in _UNSET_FERNET_VALUES else text


def airflow_home() -> Path:
    return Path(os.path.expanduser(os.path.expandvars(os.environ.get("AIRFLOW_HOME") or "~/airflow")))


def key_digest(key: str) -> str:
    """A filesystem- and URL-safe name for a cache key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class TokenCodec:
    """
    Turns a token (or a status record) into bytes for a store and back.

    ``TokenCodec.from_config()`` follows Airflow's Fernet key; ``TokenCodec(None)`` stores plain JSON.
    """

    def __init__(self, fernet_key: str | None) -> None:
        self._fernet: MultiFernet | None = None
        self._fingerprint = ""
        if fernet_key:
            try:
                keys = [Fernet(part.strip().encode("utf-8")) for part in fernet_key.split(",") if part.strip()]
            except (ValueError, TypeError):
                raise TokenStoreError(
                    "Airflow's [core] fernet_key is not a valid Fernet key (32 url-safe base64-encoded bytes); "
                    "token stores refuse to save tokens unencrypted when a key is configured"
                ) from None
            self._fernet = MultiFernet(keys)
            self._fingerprint = hashlib.sha256(fernet_key.encode("utf-8")).hexdigest()[:16]

    @classmethod
    def from_config(cls) -> TokenCodec:
        return cls(configured_fernet_key())

    @property
    def encrypted(self) -> bool:
        return self._fernet is not None

    @property
    def fingerprint(self) -> str:
        """Identifies the key set (for caching store instances), never the key itself."""
        return self._fingerprint

    def __repr__(self) -> str:
        return f"TokenCodec(encrypted={self.encrypted})"

    # -- records -------------------------------------------------------------------------------------

    def encode_record(self, record: Mapping[str, Any]) -> bytes:
        data = json.dumps(dict(record), separators=(",", ":"), sort_keys=True).encode("utf-8")
        return data if self._fernet is None else self._fernet.encrypt(data)

    def decode_record(self, raw: bytes | str | None, *, what: str) -> dict[str, Any] | None:
        """The record in ``raw``, or ``None`` (with a warning naming ``what``, never the contents)."""
        if raw is None:
            return None
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        if not data.strip():
            log.warning("Ignoring empty %s", what)
            return None
        if len(data) > MAX_RECORD_BYTES:
            log.warning("Ignoring %s: %d bytes is more than a token record can be", what, len(data))
            return None
        if not data.lstrip().startswith(b"{"):
            if self._fernet is None:
                log.warning("Ignoring %s: it is encrypted but Airflow has no [core] fernet_key configured", what)
                return None
            try:
                data = self._fernet.decrypt(data)
            except InvalidToken:
                log.warning("Ignoring %s: it cannot be decrypted with the configured Fernet key(s)", what)
                return None
        try:
            record = json.loads(data)
        except (ValueError, RecursionError):
            log.warning("Ignoring %s: it is corrupt or truncated", what)
            return None
        if not isinstance(record, dict) or record.get("v") != RECORD_VERSION:
            log.warning("Ignoring %s: unknown record format", what)
            return None
        return record

    # -- tokens --------------------------------------------------------------------------------------

    def encode_token(self, key: str, token: Token, **extra: Any) -> bytes:
        return self.encode_record({"v": RECORD_VERSION, "key": key, "token": token.to_dict(), **extra})

    def decode_token(self, key: str, raw: bytes | str | None, *, what: str) -> tuple[Token, dict[str, Any]] | None:
        """The token and its record, or ``None`` when ``raw`` holds no usable token for ``key``."""
        record = self.decode_record(raw, what=what)
        if record is None:
            return None
        if record.get("key") != key:
            log.warning("Ignoring %s: it belongs to another cache key", what)
            return None
        payload = record.get("token")
        try:
            if not isinstance(payload, Mapping):
                raise TypeError("token is not an object")
            return Token.from_dict(payload), record
        except (KeyError, TypeError, ValueError):
            log.warning("Ignoring %s: the token record is incomplete", what)
            return None

    def encode_status(self, key: str, status: Mapping[str, Any]) -> bytes:
        return self.encode_record({"v": RECORD_VERSION, "key": key, "status": dict(status)})

    def decode_status(self, key: str, raw: bytes | str | None, *, what: str) -> dict[str, Any] | None:
        record = self.decode_record(raw, what=what)
        if record is None or record.get("key") != key or not isinstance(record.get("status"), dict):
            return None
        status: dict[str, Any] = record["status"]
        return status


class KeyedLocks:
    """One re-entrant in-process lock per key (threads of a process queue here, not on the shared lock)."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.RLock] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())


class TwoLevelLock(Generic[H]):
    """
    A per-key lock in two levels: a re-entrant in-process lock, then the store's cross-process lock.

    Threads of one process queue on the in-process lock, so the process holds at most one cross-process
    lock per key (``acquire(key, deadline)`` / ``release(handle)``), taken on the outermost entry and
    released on the outermost exit. Waiting is bounded by ``wait_timeout`` in all.
    """

    def __init__(
        self,
        backend: str,
        wait_timeout: float,
        acquire: Callable[[str, float], H],
        release: Callable[[H], None],
    ) -> None:
        self.backend = backend
        self.wait_timeout = wait_timeout
        self._acquire = acquire
        self._release = release
        self._locks = KeyedLocks()
        self._held: dict[str, tuple[H, int]] = {}  # key -> (handle, depth); touched only by the RLock owner

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        deadline = time.monotonic() + self.wait_timeout
        local = self._locks.get(key)
        if not local.acquire(timeout=max(self.wait_timeout, 0.0)):
            raise TokenStoreLockTimeout(self.backend, key, self.wait_timeout)
        try:
            entry = self._held.get(key)
            handle, depth = entry if entry is not None else (self._acquire(key, deadline), 0)
            self._held[key] = (handle, depth + 1)
            try:
                yield
            finally:
                handle, depth = self._held[key]
                if depth == 1:
                    del self._held[key]
                    self._release(handle)
                else:
                    self._held[key] = (handle, depth - 1)
        finally:
            local.release()
