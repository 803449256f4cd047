"""
Provider settings: every ``[oauth_connector]`` option (and the few Airflow options we follow), read in one place.

Each option is declared once in :data:`OPTIONS` (name, default, description, example): the provider info's
``config`` section is built from it, and the typed readers below are the only code that reads Airflow's
configuration. An option is read on each call (env ``AIRFLOW__OAUTH_CONNECTOR__<NAME>`` included), so a
changed setting takes effect without a restart of the reading code. Names the provider spells in several
places (token-store backends) are enums here. Imports nothing of Airflow at module level (the providers
manager imports it through ``get_provider_info``).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECTION = "oauth_connector"
VERSION_ADDED = "0.1.0"


class StoreBackend(str, enum.Enum):
    """Token-store backend names: the connection's ``store_backend`` and ``[oauth_connector] token_store``."""

    FILE = "file"
    REDIS = "redis"
    VARIABLES = "variables"
    MEMORY = "memory"

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(member.value for member in cls)


DEFAULT_BACKEND = StoreBackend.FILE
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_REDIS_PREFIX = "oauth_connector:"
DEFAULT_VARIABLE_PREFIX = "oauth_connector__"
DEFAULT_LOCK_WAIT_TIMEOUT = 60.0
DEFAULT_REDIS_LOCK_TIMEOUT = 15.0  # a dead holder's refresh is retried within servers' 30 s grace windows
DEFAULT_REDIS_SOCKET_TIMEOUT = 5.0
#: Executors whose task processes all run on the scheduler's machine; any other executor is distributed.
LOCAL_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})
# The Task SDK's config parser leaves the unexpanded template default when no key is configured.
_UNSET_FERNET_VALUES = frozenset({"", "{FERNET_KEY}"})


@dataclass(frozen=True)
class Option:
    """One ``[oauth_connector]`` option as the provider info declares it."""

    description: str
    default: str | None = None
    example: str | None = None

    def declaration(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "version_added": VERSION_ADDED,
            "type": "string",
            "example": self.example,
            "default": self.default,
        }


OPTIONS: dict[str, Option] = {
    "token_store": Option(
        "Default token store for connections that do not choose one: file, redis, variables or memory. Unset: "
        "chosen by [core] executor: file under the LocalExecutor; under a distributed executor (Celery, "
        "Kubernetes, ...) redis when redis_url is set, else file for client credentials and a clear error for "
        "connections a person authorized (a per-host store would lose rotating refresh tokens).",
        None,
        "redis",
    ),
    "token_directory": Option("Directory of the file token store (default: $AIRFLOW_HOME/oauth_connector/tokens)."),
    "redis_url": Option(
        "Redis server of the redis token store: redis:// or rediss:// (TLS), with the ACL user and password "
        "(redis://user:password@host:port/db). Setting it also makes redis the default token store under a "
        "distributed executor (Celery, Kubernetes, ...). Unset: redis://127.0.0.1:6379/0.",
        None,
        "rediss://oauth:password@redis.example.com:6380/0",
    ),
    "redis_prefix": Option(
        "Key prefix of the redis token store: one per deployment or environment sharing a Redis.",
        DEFAULT_REDIS_PREFIX,
        "oauth_connector:prod:",
    ),
    "redis_ca_file": Option(
        "CA bundle (PEM) that signed the Redis server's TLS certificate (rediss://); default: the system CAs.",
        None,
        "/etc/ssl/redis/ca.pem",
    ),
    "redis_cert_file": Option("Client certificate (PEM) for Redis servers that require TLS client auth.", None),
    "redis_key_file": Option("Private key (PEM) of redis_cert_file.", None),
    "redis_socket_timeout": Option(
        "Seconds a Redis connect or command may take before the task fails with an error naming the store "
        "(a partitioned Redis must not hang tasks).",
        str(DEFAULT_REDIS_SOCKET_TIMEOUT),
        "5",
    ),
    "lock_wait_timeout": Option(
        "Seconds a task waits while another process refreshes the same token (file and Redis stores) before "
        "it fails with TokenStoreLockTimeoutError; raise it for token endpoints slower than that.",
        str(DEFAULT_LOCK_WAIT_TIMEOUT),
        "120",
    ),
    "redis_lock_timeout": Option(
        "Lease in seconds of the Redis refresh lock; a watchdog renews it (every third of it) while the holder "
        "lives, so it only bounds how long a crashed holder blocks the others. After a holder died mid-refresh "
        "the next task retries with the refresh token held once the lease ran out; keep it well below the "
        "server's grace window for a rotated refresh token (Okta's default: 30 s) so that retry is accepted.",
        str(DEFAULT_REDIS_LOCK_TIMEOUT),
        "15",
    ),
    "callback_base_url": Option(
        "Public base URL of the Airflow web server when it sits behind a proxy; the Authorize callback "
        "becomes <callback_base_url>/oauth-connector/callback (default: [api] base_url, else "
        "http://localhost:<[api] port>; never the request's Host header).",
        None,
        "https://airflow.example.com",
    ),
    "variable_prefix": Option("Variable name prefix of the variables token store.", DEFAULT_VARIABLE_PREFIX),
}


def provider_config() -> dict[str, Any]:
    """The ``config`` section of the provider info (Airflow shows it in ``airflow config list``)."""
    return {
        SECTION: {
            "description": "Provider-wide settings of airflow-oauth-connector.",
            "options": {name: option.declaration() for name, option in OPTIONS.items()},
        }
    }


# -- reading --------------------------------------------------------------------------------------------


def _conf() -> Any:
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # pragma: no cover - the Task SDK is part of Airflow 3.x
        from airflow.configuration import conf
    return conf


def airflow_option(section: str, name: str) -> str | None:
    """``[section] name`` of Airflow's configuration, stripped; ``None`` when unset or empty."""
    value = _conf().get(section, name, fallback=None)
    text = str(value or "").strip()
    return text or None


def option(name: str, default: str | None = None) -> str | None:
    """``[oauth_connector] <name>``, else ``default`` (an empty value counts as unset)."""
    return airflow_option(SECTION, name) or default


def token_store() -> StoreBackend:
    """``[oauth_connector] token_store``, validated (default ``file``)."""
    name = (option("token_store") or DEFAULT_BACKEND.value).strip().lower()
    return parse_backend(name, f"[{SECTION}] token_store")


def parse_backend(name: str, what: str = "token store") -> StoreBackend:
    """The backend called ``name`` (any case); :class:`ConfigError` naming ``what`` otherwise."""
    # Imported here: Airflow's providers manager imports this module (through get_provider_info) while
    # airflow.sdk.exceptions, which exceptions.py needs, may still be initialising.
    from airflow_oauth_connector.exceptions import ConfigError

    try:
        return StoreBackend(name.strip().lower())
    except ValueError:
        raise ConfigError(f"{what} is {name[:40]!r}; expected one of: {', '.join(StoreBackend.names())}") from None


def airflow_home() -> Path:
    return Path(os.path.expanduser(os.path.expandvars(os.environ.get("AIRFLOW_HOME") or "~/airflow")))


def token_directory() -> Path:
    """``[oauth_connector] token_directory``, else ``$AIRFLOW_HOME/oauth_connector/tokens`` (the file store's)."""
    directory = option("token_directory")
    return Path(directory).expanduser() if directory else airflow_home() / "oauth_connector" / "tokens"


def redis_url() -> str:
    """``[oauth_connector] redis_url`` (default local Redis, database 0)."""
    return option("redis_url", DEFAULT_REDIS_URL) or DEFAULT_REDIS_URL


def redis_prefix() -> str:
    return option("redis_prefix", DEFAULT_REDIS_PREFIX) or DEFAULT_REDIS_PREFIX


def redis_url_configured() -> bool:
    """Whether ``[oauth_connector] redis_url`` is set (env, airflow.cfg, ``_cmd`` or ``_secret``)."""
    return option("redis_url") is not None


@dataclass(frozen=True)
class RedisTls:
    """TLS files of the Redis store (``None``: not set)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


def redis_tls() -> RedisTls:
    return RedisTls(option("redis_ca_file"), option("redis_cert_file"), option("redis_key_file"))


def redis_socket_timeout() -> float:
    """``[oauth_connector] redis_socket_timeout`` in seconds (default 5)."""
    return seconds("redis_socket_timeout", DEFAULT_REDIS_SOCKET_TIMEOUT, 600)


def lock_wait_timeout() -> float:
    """``[oauth_connector] lock_wait_timeout``: seconds a task waits for another's token refresh (default 60)."""
    return seconds("lock_wait_timeout", DEFAULT_LOCK_WAIT_TIMEOUT, 3600)


def redis_lock_timeout() -> float:
    """``[oauth_connector] redis_lock_timeout``: the Redis refresh lock's lease in seconds (default 15)."""
    return seconds("redis_lock_timeout", DEFAULT_REDIS_LOCK_TIMEOUT, 3600)


def seconds(name: str, default: float, upper: float) -> float:
    """``[oauth_connector] <name>`` as seconds in ``(0, upper]``, else ``default``; :class:`ConfigError` if not."""
    from airflow_oauth_connector.exceptions import ConfigError

    text = option(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= upper:  # also refuses nan
        raise ConfigError(f"[{SECTION}] {name} is {text[:20]!r}; expected seconds in (0, {upper:g}]")
    return value


def executors() -> tuple[str, ...]:
    """The class names in Airflow's ``[core] executor``: ``A,B``, ``alias:module.Class``, ``A;team=B,C``."""
    names = []
    for team_part in (airflow_option("core", "executor") or "LocalExecutor").split(";"):
        for entry in team_part.rpartition("=")[2].split(","):
            spec = entry.strip()
            if spec:
                names.append(spec.rpartition(":")[2].rpartition(".")[2])
    return tuple(names) or ("LocalExecutor",)


def distributed_executor() -> str | None:
    """The first configured executor whose tasks may run on other machines (``None``: all are local)."""
    return next((name for name in executors() if name not in LOCAL_EXECUTORS), None)


def variable_prefix() -> str:
    return option("variable_prefix", DEFAULT_VARIABLE_PREFIX) or DEFAULT_VARIABLE_PREFIX


def callback_base_url() -> str | None:
    """``[oauth_connector] callback_base_url`` without a trailing slash, if set."""
    value = option("callback_base_url")
    return value.rstrip("/") if value else None


def fernet_key() -> str | None:
    """Airflow's ``[core] fernet_key`` if one is configured, else ``None``."""
    value = _conf().get("core", "fernet_key", fallback=None)
    text = str(value or "").strip()
    return None if text in _UNSET_FERNET_VALUES else text


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable`` (``False`` when configuration is unavailable)."""
    try:
        return bool(_conf().getboolean("operators", "default_deferrable", fallback=False))
    except Exception:  # pragma: no cover - configuration unavailable
        return False


def api_base_url() -> str | None:
    """Airflow's ``[api] base_url`` (where the UI is served), if set."""
    return airflow_option("api", "base_url")


def api_secret_key() -> str | None:
    """Airflow's ``[api] secret_key`` (shared by the api-server's workers), if set."""
    try:
        from airflow.configuration import conf
    except ImportError:  # pragma: no cover - only the api-server asks
        return None
    text = str(conf.get("api", "secret_key", fallback="") or "").strip()
    return text or None
