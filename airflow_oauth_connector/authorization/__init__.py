"""
Authorization of connections by a person (authorization-code grant): one service for the CLI and the plugin.

Modules, one job each: :mod:`.service` (start: the URL; finish: exchange and save), :mod:`.callback` (the
one redirect parser), :mod:`.loopback` (the CLI's 127.0.0.1 listener), :mod:`.commands` (write commands:
save, forget), :mod:`.read_model` (the status a page or terminal shows), :mod:`.repository` (connections in
the Airflow metadata database). The names below are the package's public interface.
"""

from __future__ import annotations

from airflow_oauth_connector.authorization.callback import Callback, parse_callback
from airflow_oauth_connector.authorization.commands import (
    ACCESS_TOKEN_EXPIRES_KEY,
    ACCESS_TOKEN_KEY,
    AUTHORIZATION_KEYS,
    AUTHORIZED_AT_KEY,
    AUTHORIZED_SCOPE_KEY,
    CAPTURED_KEY,
    REFRESH_TOKEN_KEY,
    forget_tokens,
    record_failure,
    save_authorization,
)
from airflow_oauth_connector.authorization.read_model import (
    STATES,
    FailureInfo,
    ProfileStatus,
    State,
    connection_profile_status,
    connection_status,
    profile_status,
)
from airflow_oauth_connector.authorization.repository import (
    list_connection_ids,
    load_profile,
    stored_profile,
)
from airflow_oauth_connector.authorization.service import exchange_and_save
from airflow_oauth_connector.exceptions import AuthorizationError, AuthorizationStorageError
from airflow_oauth_connector.status import format_time

__all__ = [
    "ACCESS_TOKEN_EXPIRES_KEY",
    "ACCESS_TOKEN_KEY",
    "AUTHORIZATION_KEYS",
    "AUTHORIZED_AT_KEY",
    "AUTHORIZED_SCOPE_KEY",
    "CAPTURED_KEY",
    "REFRESH_TOKEN_KEY",
    "STATES",
    "AuthorizationError",
    "AuthorizationStorageError",
    "Callback",
    "FailureInfo",
    "ProfileStatus",
    "State",
    "connection_profile_status",
    "connection_status",
    "exchange_and_save",
    "forget_tokens",
    "format_time",
    "list_connection_ids",
    "load_profile",
    "parse_callback",
    "profile_status",
    "record_failure",
    "save_authorization",
    "stored_profile",
]
