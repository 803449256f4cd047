"""Token store in Redis: one token per deployment, shared by every process on every host."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from airflow_oauth_connector import config
from airflow_oauth_connector.config import StoreBackend
from airflow_oauth_connector.exceptions import TokenStoreError, TokenStoreLockTimeoutError
from airflow_oauth_connector.redaction import drop_password, register_secret_everywhere
from airflow_oauth_connector.status import StatusRecord
from airflow_oauth_connector.store.codec import TokenCodec
from airflow_oauth_connector.store.locks import TwoLevelLock
from airflow_oauth_connector.token import Token

if TYPE_CHECKING:
    import redis
    from redis.lock import Lock

log = logging.getLogger(__name__)

DEFAULT_REDIS_URL = config.DEFAULT_REDIS_URL
_T = TypeVar("_T")


def default_redis_url() -> str:
    """``[oauth_connector] redis_url`` (env ``AIRFLOW__OAUTH_CONNECTOR__REDIS_URL``), else local Redis."""
    return config.redis_url()


class RedisTokenStore:
    """
    Tokens in Redis under ``<prefix>token:<cache key>``, encrypted with Airflow's Fernet key when one is set.

    * **Expiry.** A token without a refresh token expires from Redis ``ttl_margin`` seconds (default 300)
      after the access token does: nothing is lost, the next caller fetches a new one. A token that carries a
      refresh token is kept **without a TTL**: the refresh token usually outlives the access token by far
      (and may never expire), and dropping it would force a person to authorize the connection again.
      Entries of deleted connections are removed with :meth:`delete` (or by ``SCAN``/``DEL`` on the prefix).
    * **Lock.** ``lock(key)`` is a redis-py :class:`~redis.lock.Lock` on ``<prefix>lock:<cache key>``
      (``SET NX PX`` with a random owner token, released by a compare-and-delete script). It expires after
      ``lock_timeout`` seconds, so a crashed holder cannot block others for longer than that; a live holder
      keeps extending it from a watchdog thread while it works, so a slow token endpoint (retries included)
      does not let a second process refresh with the same, soon rotated, refresh token. Waiting for the lock
      is bounded by ``wait_timeout`` seconds, then :class:`TokenStoreLockTimeoutError` is raised.
    * **Production settings.** ``rediss://`` URLs use TLS, verified against ``ca_file`` (else the system
      CAs), with an optional client certificate; the URL's ACL user and password log in. The password is
      registered with Airflow's secrets masker and never shown (``repr``, errors).
    * **Bounded calls.** Every connect and command is bounded by ``socket_timeout`` seconds and retried once
      (a pooled connection may be stale after a Redis restart), so an unreachable or partitioned Redis fails a
      task within about ``2 x socket_timeout`` with :class:`TokenStoreError` naming the store, never a hang.
    * Redis errors surface as :class:`TokenStoreError` (the URL's password is never shown).
    """

    backend = StoreBackend.REDIS.value

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "oauth_connector:",
        lock_timeout: float = config.DEFAULT_REDIS_LOCK_TIMEOUT,
        wait_timeout: float = config.DEFAULT_LOCK_WAIT_TIMEOUT,
        ttl_margin: float = 300.0,
        codec: TokenCodec | None = None,
        client: redis.Redis | None = None,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        socket_timeout: float = config.DEFAULT_REDIS_SOCKET_TIMEOUT,
    ) -> None:
        self.url = url or default_redis_url()
        password = urlsplit(self.url).password
        for secret in {password, unquote(password or "")}:  # as written in the URL, and as sent to Redis
            register_secret_everywhere(secret)
        self.tls = config.RedisTls(ca_file, cert_file, key_file)
        self.socket_timeout = socket_timeout
        self.prefix = prefix
        self.lock_timeout = lock_timeout
        self.wait_timeout = wait_timeout
        self.ttl_margin = ttl_margin
        self._codec = codec
        self._client = client
        self._guard = threading.Lock()
        self._lock: TwoLevelLock[_HeldLock] = TwoLevelLock(self.backend, wait_timeout, self._acquire, _HeldLock.release)

    def __repr__(self) -> str:
        return f"RedisTokenStore(url={drop_password(self.url)!r}, prefix={self.prefix!r})"

    @property
    def codec(self) -> TokenCodec:
        with self._guard:
            if self._codec is None:
                self._codec = TokenCodec.from_config()
            return self._codec

    @property
    def client(self) -> redis.Redis:
        with self._guard:
            if self._client is None:
                import redis
                from redis.backoff import ExponentialBackoff
                from redis.retry import Retry

                tls: dict[str, Any] = {}
                if urlsplit(self.url).scheme == "rediss":
                    tls = {
                        "ssl_ca_certs": self.tls.ca_file,
                        "ssl_certfile": self.tls.cert_file,
                        "ssl_keyfile": self.tls.key_file,
                    }
                self._client = redis.Redis.from_url(
                    self.url,
                    socket_connect_timeout=self.socket_timeout,
                    socket_timeout=self.socket_timeout,
                    health_check_interval=30,
                    retry=Retry(ExponentialBackoff(cap=0.5, base=0.1), 1),
                    **{k: v for k, v in tls.items() if v},
                )
            return self._client

    def redis_key(self, key: str, kind: str = "token") -> str:
        return f"{self.prefix}{kind}:{key}"

    def _call(self, action: str, func: Callable[[], _T]) -> _T:
        import redis

        try:
            return func()
        except redis.RedisError as exc:
            detail = str(exc)[:200]
            raise TokenStoreError(
                f"Redis token store at {drop_password(self.url)}: {action} failed: {type(exc).__name__}: {detail}"
            ) from None

    # -- TokenStore ----------------------------------------------------------------------------------

    def load(self, key: str) -> Token | None:
        name = self.redis_key(key)
        raw = self._call("reading a token", lambda: self.client.get(name))
        found = self.codec.decode_token(key, _as_bytes(raw), what=f"Redis entry {name}")
        return None if found is None else found[0]

    def save(self, key: str, token: Token) -> None:
        name = self.redis_key(key)
        data = self.codec.encode_token(key, token)
        ttl_ms = self._ttl_ms(token)
        self._call("saving a token", lambda: self.client.set(name, data, px=ttl_ms))

    def _ttl_ms(self, token: Token) -> int | None:
        if token.refresh_token or token.expires_at is None:
            return None
        return max(1000, int((token.expires_at - time.time() + self.ttl_margin) * 1000))

    def delete(self, key: str) -> None:
        name = self.redis_key(key)
        self._call("deleting a token", lambda: self.client.delete(name))

    def lock(self, key: str) -> AbstractContextManager[object]:
        return self._lock.hold(key)

    def _acquire(self, key: str, deadline: float) -> _HeldLock:
        lock = self.client.lock(
            self.redis_key(key, "lock"),
            timeout=self.lock_timeout,
            sleep=0.02,
            blocking=True,
            blocking_timeout=max(deadline - time.monotonic(), 0.001),
            thread_local=False,
        )
        if not self._call("taking the refresh lock", lock.acquire):
            raise TokenStoreLockTimeoutError(self.backend, key, self.wait_timeout)
        return _HeldLock(lock, self.lock_timeout, key)

    # -- status records ----------------------------------------------------------------------

    def save_status(self, key: str, status: StatusRecord) -> None:
        name = self.redis_key(key, "status")
        data = self.codec.encode_status(key, status)
        self._call("saving a status", lambda: self.client.set(name, data))

    def load_status(self, key: str) -> StatusRecord | None:
        name = self.redis_key(key, "status")
        raw = self._call("reading a status", lambda: self.client.get(name))
        return self.codec.decode_status(key, _as_bytes(raw), what=f"Redis entry {name}")

    def clear_status(self, key: str) -> None:
        name = self.redis_key(key, "status")
        self._call("deleting a status", lambda: self.client.delete(name))


class _HeldLock:
    """A held redis-py lock whose expiry a watchdog thread keeps pushing back until it is released."""

    def __init__(self, lock: Lock, timeout: float, key: str) -> None:
        self._lock = lock
        self._key = key
        self._stop = threading.Event()
        self._watchdog = threading.Thread(
            target=self._extend, args=(max(timeout / 3, 0.05),), name="oauth-token-lock-watchdog", daemon=True
        )
        self._watchdog.start()

    def _extend(self, every: float) -> None:
        from redis.exceptions import LockError, RedisError

        while not self._stop.wait(every):
            try:
                self._lock.reacquire()
            except LockError:
                log.warning(
                    "The Redis refresh lock on %r expired while held; another process may refresh too", self._key
                )
                return
            except RedisError:
                continue  # transient: try again on the next tick, the lock has 2/3 of its lifetime left

    def release(self) -> None:
        from redis.exceptions import LockError, RedisError

        self._stop.set()
        self._watchdog.join()
        try:
            self._lock.release()
        except LockError:
            log.warning("The Redis refresh lock on %r had expired before it was released", self._key)
        except RedisError as exc:  # it expires by itself after lock_timeout
            log.warning("Could not release the Redis refresh lock on %r: %s", self._key, type(exc).__name__)


def _as_bytes(raw: Any) -> bytes | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        return raw
    return str(raw).encode("utf-8")
