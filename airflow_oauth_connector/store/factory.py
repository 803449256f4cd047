"""
Pick the token store for a profile, and share one store object per backend and settings in a process.

Choice, first match wins: the hook's ``token_store`` argument; the connection's ``store_backend`` extra; the
provider-wide ``[oauth_connector] token_store`` option (env ``AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE``);
``file``. Further options of the ``[oauth_connector]`` section:

``token_directory``
    the file store's directory (default ``$AIRFLOW_HOME/oauth_connector/tokens``)
``redis_url``, ``redis_prefix``
    the Redis store's server (default ``redis://127.0.0.1:6379/0``) and key prefix (``oauth_connector:``)
``variable_prefix``
    the Variables store's name prefix (``oauth_connector__``)
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from airflow_oauth_connector.exceptions import OAuthConnectorError
from airflow_oauth_connector.store.base import TokenStore
from airflow_oauth_connector.store.crypto import TokenCodec, config_option
from airflow_oauth_connector.store.memory import MemoryTokenStore
from airflow_oauth_connector.token import Token

if TYPE_CHECKING:
    from airflow_oauth_connector.profile import OAuthProfile

BACKENDS = ("memory", "file", "redis", "variables")
DEFAULT_BACKEND = "file"

_cache: dict[tuple[str, ...], TokenStore] = {}
_cache_guard = threading.Lock()


@runtime_checkable
class TokenStatusStore(Protocol):
    """
    Optional part of a token store: a small, non-secret status record per key.

    E.g. ``{"state": "needs_reauthorization", "error": "invalid_grant", "at": 1767225600.0}``, written when a
    refresh token is rejected so that the OAuth profiles page and CLI can show which connections need a
    person to authorize them again, and cleared after the next successful token request.
    """

    def save_status(self, key: str, status: Mapping[str, Any]) -> None: ...

    def load_status(self, key: str) -> dict[str, Any] | None: ...

    def clear_status(self, key: str) -> None: ...


def default_backend() -> str:
    """The provider-wide default backend name (validated)."""
    name = (config_option("token_store", DEFAULT_BACKEND) or DEFAULT_BACKEND).strip().lower()
    if name not in BACKENDS:
        raise OAuthConnectorError(
            f"[oauth_connector] token_store is {name[:40]!r}; expected one of: {', '.join(BACKENDS)}"
        )
    return name


def store_for(profile: OAuthProfile, override: TokenStore | None = None) -> TokenStore:
    """The store a hook for ``profile`` should use: ``override``, else the configured backend's shared store."""
    if override is not None:
        return override
    return store_named(profile.token_store or default_backend())


def store_named(name: str) -> TokenStore:
    """The process-wide store of backend ``name`` with the current configuration."""
    backend = name.strip().lower()
    if backend == "memory":
        return MemoryTokenStore.shared()
    if backend not in BACKENDS:
        raise OAuthConnectorError(f"Unknown token store {name[:40]!r}; expected one of: {', '.join(BACKENDS)}")
    codec = TokenCodec.from_config()
    settings = _settings(backend)
    cache_key = (backend, *settings, codec.fingerprint)
    with _cache_guard:
        store = _cache.get(cache_key)
        if store is None:
            store = _cache[cache_key] = _create(backend, settings, codec)
        return store


def _settings(backend: str) -> tuple[str, ...]:
    if backend == "file":
        from airflow_oauth_connector.store.file import default_token_directory

        directory = config_option("token_directory")
        path = Path(directory).expanduser() if directory else default_token_directory()
        return (str(path.absolute()),)
    if backend == "redis":
        from airflow_oauth_connector.store.redis import default_redis_url

        return (default_redis_url(), config_option("redis_prefix", "oauth_connector:") or "oauth_connector:")
    return (config_option("variable_prefix", "oauth_connector__") or "oauth_connector__",)


def _create(backend: str, settings: tuple[str, ...], codec: TokenCodec) -> TokenStore:
    if backend == "file":
        from airflow_oauth_connector.store.file import FileTokenStore

        return FileTokenStore(Path(settings[0]), codec=codec)
    if backend == "redis":
        from airflow_oauth_connector.store.redis import RedisTokenStore

        return RedisTokenStore(settings[0], prefix=settings[1], codec=codec)
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


def save_status(store: TokenStore, key: str, status: Mapping[str, Any]) -> None:
    """Record ``status`` for ``key`` if the store keeps statuses (silently skipped otherwise)."""
    if isinstance(store, TokenStatusStore):
        store.save_status(key, status)


def load_status(store: TokenStore, key: str) -> dict[str, Any] | None:
    return store.load_status(key) if isinstance(store, TokenStatusStore) else None


def clear_status(store: TokenStore, key: str) -> None:
    if isinstance(store, TokenStatusStore):
        store.clear_status(key)
