"""Token store in Airflow Variables: no extra infrastructure, but also no cross-process lock."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator

from airflow_oauth_connector.config import StoreBackend
from airflow_oauth_connector.exceptions import TokenStoreError, TokenStoreLockTimeoutError
from airflow_oauth_connector.status import StatusRecord
from airflow_oauth_connector.store.codec import TokenCodec, key_digest
from airflow_oauth_connector.store.locks import KeyedLocks
from airflow_oauth_connector.token import Token

log = logging.getLogger(__name__)


class VariableTokenStore:
    """
    Tokens in Airflow Variables named ``<prefix>token__<sha256(cache key)[:32]>``.

    Reads and writes go through :class:`airflow.sdk.Variable`, so they work from task processes (through the
    Task SDK's execution API) as well as from anywhere with metadata-database access. The Variable name
    contains "token", which Airflow's secrets masker treats as sensitive: the value is hidden in the UI and
    masked in task logs. The value itself is encrypted with Airflow's Fernet key when one is configured (the
    metadata database then also stores it Fernet-encrypted, as it does every Variable).

    **What this backend cannot guarantee.** Variables have neither a lock nor a compare-and-swap, so:

    * ``lock(key)`` only excludes threads of *this* process. Processes that find the token expired at the
      same moment each fetch one: expect up to one token request per concurrently starting task, not one per
      deployment. Use the file (one host) or Redis (many hosts) store when that matters.
    * Writes are last-writer-wins. Each saved record carries a random nonce; :meth:`commit` re-reads the
      Variable right after writing it and, if another writer's nonce is there, *adopts* that writer's token
      instead of its own (both are valid for client credentials), so processes converge on one token. This
      narrows the race, it does not close it: a read can still interleave with two writes.
    * Refresh-token rotation is unsafe across processes: two processes may refresh with the same refresh
      token, and a server with reuse detection then rejects one (``invalid_grant``) and may revoke the whole
      token family, forcing re-authorization. Do not use this backend for rotating authorization-code
      connections that run in parallel tasks.
    * If ``[secrets] use_cache`` is on, other processes' writes may be seen late; this store invalidates the
      local cache entry before each read where the Task SDK allows it.
    """

    backend = StoreBackend.VARIABLES.value

    def __init__(
        self, prefix: str = "oauth_connector__", *, wait_timeout: float = 60.0, codec: TokenCodec | None = None
    ):
        self.prefix = prefix
        self.wait_timeout = wait_timeout
        self._codec = codec
        self._locks = KeyedLocks()

    def __repr__(self) -> str:
        return f"VariableTokenStore(prefix={self.prefix!r})"

    @property
    def codec(self) -> TokenCodec:
        if self._codec is None:
            self._codec = TokenCodec.from_config()
        return self._codec

    def variable_key(self, key: str, kind: str = "token") -> str:
        return f"{self.prefix}{kind}__{key_digest(key)[:32]}"

    # -- Variable access -----------------------------------------------------------------------------

    def _get(self, name: str) -> str | None:
        from airflow.sdk import Variable

        _invalidate_cached(name)
        try:
            value = Variable.get(name, default=None)
        except Exception as exc:
            raise TokenStoreError(f"Cannot read Airflow Variable {name!r}: {type(exc).__name__}") from None
        return None if value is None else str(value)

    def _set(self, name: str, value: bytes, description: str) -> None:
        from airflow.sdk import Variable

        try:
            Variable.set(name, value.decode("utf-8"), description=description)
        except Exception as exc:
            raise TokenStoreError(f"Cannot write Airflow Variable {name!r}: {type(exc).__name__}") from None

    def _delete(self, name: str) -> None:
        from airflow.sdk import Variable

        try:
            Variable.delete(name)
        except Exception as exc:
            raise TokenStoreError(f"Cannot delete Airflow Variable {name!r}: {type(exc).__name__}") from None
        _invalidate_cached(name)

    # -- TokenStore ----------------------------------------------------------------------------------

    def load(self, key: str) -> Token | None:
        name = self.variable_key(key)
        found = self.codec.decode_token(key, self._get(name), what=f"Airflow Variable {name}")
        return None if found is None else found[0]

    def save(self, key: str, token: Token) -> None:
        self.commit(key, token)

    def commit(self, key: str, token: Token) -> Token:
        """
        Save ``token`` and return the token the store holds for ``key`` afterwards.

        That is ``token`` itself, unless another process wrote the Variable between our write and the re-read:
        then that process's token is returned, and callers should use it so that everyone converges on one.
        """
        name = self.variable_key(key)
        nonce = uuid.uuid4().hex
        writer = f"{socket.gethostname()}:{os.getpid()}"
        data = self.codec.encode_token(key, token, nonce=nonce, writer=writer, saved_at=time.time())
        self._set(name, data, f"OAuth token cache of connection {_conn_id(key)!r} (airflow-oauth-connector)")
        found = self.codec.decode_token(key, self._get(name), what=f"Airflow Variable {name}")
        if found is None:
            return token
        winner, record = found
        if record.get("nonce") != nonce:
            log.info(
                "Another process (%s) saved a token for %r at the same time; using that token",
                record.get("writer", "unknown"),
                _conn_id(key),
            )
            return winner
        return token

    def delete(self, key: str) -> None:
        self._delete(self.variable_key(key))

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[object]:
        """Excludes threads of this process only (see the class docstring)."""
        local = self._locks.get(key)
        if not local.acquire(timeout=max(self.wait_timeout, 0.0)):
            raise TokenStoreLockTimeoutError(self.backend, key, self.wait_timeout)
        try:
            yield self
        finally:
            local.release()

    # -- status records ----------------------------------------------------------------------

    def save_status(self, key: str, status: StatusRecord) -> None:
        name = self.variable_key(key, "status")
        self._set(name, self.codec.encode_status(key, status), f"OAuth status of connection {_conn_id(key)!r}")

    def load_status(self, key: str) -> StatusRecord | None:
        name = self.variable_key(key, "status")
        return self.codec.decode_status(key, self._get(name), what=f"Airflow Variable {name}")

    def clear_status(self, key: str) -> None:
        self._delete(self.variable_key(key, "status"))


def _conn_id(key: str) -> str:
    return key.rpartition(":")[0] or key


def _invalidate_cached(name: str) -> None:
    """Drop the Task SDK's secrets-cache entry so that a read sees other processes' writes."""
    try:
        from airflow.sdk.execution_time.cache import SecretCache

        SecretCache.invalidate_variable(name)
    except Exception:  # noqa: S110 - the cache is an optimisation of the SDK; without it reads are fresh anyway
        pass
