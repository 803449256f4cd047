"""
Pick the token store for a profile, and share one store object per backend and settings in a process.

Choice, first match wins: the hook's ``token_store`` argument; the connection's ``store_backend`` extra; the
provider-wide ``[oauth_connector] token_store`` option (env ``AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE``); the
default for the executor (:func:`default_backend`). The backends' settings are the ``[oauth_connector]``
options read by :mod:`airflow_oauth_connector.config` (``token_directory``; ``redis_*``; ``variable_prefix``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_oauth_connector import config
from airflow_oauth_connector.config import StoreBackend
from airflow_oauth_connector.exceptions import TokenStoreNotConfiguredError
from airflow_oauth_connector.store.base import TokenStore, require_store
from airflow_oauth_connector.store.codec import TokenCodec
from airflow_oauth_connector.store.memory import MemoryTokenStore
from airflow_oauth_connector.token import Token

if TYPE_CHECKING:
    from airflow_oauth_connector.profile import OAuthProfile

_cache: dict[tuple[str, ...], TokenStore] = {}
_cache_guard = threading.Lock()


def default_backend(profile: OAuthProfile | None = None) -> str:
    """
    The backend for a connection that chooses none: ``[oauth_connector] token_store`` if set, else by executor.

    * All executors local (``LocalExecutor``): ``file``, shared by every process of the machine.
    * A distributed executor (Celery, Kubernetes, Edge, any other): tasks of one connection run on several
      machines, so a per-host store is never the default where it can lose a grant. ``redis`` when
      ``[oauth_connector] redis_url`` is set; else, for a grant a person authorized (its refresh token may
      rotate: two hosts with their own files would present the same refresh token, and a server with reuse
      detection revokes the grant), :class:`~airflow_oauth_connector.exceptions.TokenStoreNotConfiguredError`
      naming the settings; else (client credentials and other grants that can always ask again) ``file``:
      one token per host, nothing to lose.
    """
    if config.option("token_store"):
        return config.token_store().value
    executor = config.distributed_executor()
    if executor is None:
        return StoreBackend.FILE.value
    if config.redis_url_configured():
        return StoreBackend.REDIS.value
    if profile is not None and profile.grant_type.needs_person:
        raise TokenStoreNotConfiguredError(profile.conn_id, executor)
    return StoreBackend.FILE.value


def store_for(profile: OAuthProfile, override: object | None = None) -> TokenStore:
    """
    The store a hook for ``profile`` should use: ``override`` (which must implement :class:`TokenStore`,
    status included), else the configured backend's shared store.
    """
    if override is not None:
        return require_store(override)
    return store_named(profile.token_store or default_backend(profile))


def settings_store(override: object | None = None) -> TokenStore:
    """
    Where a Test of a connection whose settings do not parse is recorded (no profile chooses a store):
    ``override``, else the provider-wide default backend's shared store (``[oauth_connector] token_store``).
    """
    if override is not None:
        return require_store(override)
    return store_named(default_backend())


def store_named(name: str) -> TokenStore:
    """The process-wide store of backend ``name`` with the current configuration."""
    backend = config.parse_backend(name, "token store")
    if backend is StoreBackend.MEMORY:
        return MemoryTokenStore.shared()
    codec = TokenCodec.from_config()
    settings = _settings(backend)
    cache_key = (backend.value, *settings, codec.fingerprint)
    with _cache_guard:
        store = _cache.get(cache_key)
        if store is None:
            store = _cache[cache_key] = _create(backend, settings, codec)
        return store


def _settings(backend: StoreBackend) -> tuple[str, ...]:
    if backend is StoreBackend.FILE:
        return (str(config.token_directory().absolute()), str(config.lock_wait_timeout()))
    if backend is StoreBackend.REDIS:
        tls = config.redis_tls()
        return (
            config.redis_url(),
            config.redis_prefix(),
            tls.ca_file or "",
            tls.cert_file or "",
            tls.key_file or "",
            str(config.redis_socket_timeout()),
            str(config.lock_wait_timeout()),
            str(config.redis_lock_timeout()),
        )
    return (config.variable_prefix(),)


def _create(backend: StoreBackend, settings: tuple[str, ...], codec: TokenCodec) -> TokenStore:
    if backend is StoreBackend.FILE:
        from airflow_oauth_connector.store.file import FileTokenStore

        directory, wait = settings
        return FileTokenStore(Path(directory), codec=codec, wait_timeout=float(wait))
    if backend is StoreBackend.REDIS:
        from airflow_oauth_connector.store.redis import RedisTokenStore

        url, prefix, ca_file, cert_file, key_file, timeout, wait, lease = settings
        return RedisTokenStore(
            url,
            prefix=prefix,
            codec=codec,
            ca_file=ca_file or None,
            cert_file=cert_file or None,
            key_file=key_file or None,
            socket_timeout=float(timeout),
            wait_timeout=float(wait),
            lock_timeout=float(lease),
        )
    from airflow_oauth_connector.store.variables import VariableTokenStore

    return VariableTokenStore(settings[0], codec=codec)


def clear_store_cache() -> None:
    """Forget the shared store objects (tests; after changing configuration at run time)."""
    with _cache_guard:
        _cache.clear()


def commit_token(store: TokenStore, key: str, token: Token) -> Token:
    """
    Save ``token`` and return the token to use: the store's ``commit`` result where it has one (a store
    without a lock may have adopted a concurrent writer's token), else ``token``.
    """
    commit = getattr(store, "commit", None)
    if callable(commit):
        result = commit(key, token)
        if isinstance(result, Token):
            return result
        return token
    store.save(key, token)
    return token
