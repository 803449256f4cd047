"""
How ``oauth_connector`` connections present their unused standard ``port`` field to Airflow: as 0, never null.

Why: the Connections page's Test button posts ``port: Number(connection.port)``, which is ``0`` for a stored
``null``, and the api-server refuses a test whose port differs from the stored one ("The host or port to test
differs from the stored connection") unless the request carries a fresh password. Every connection type
that hides the port (ours, ``smtp``, …) therefore fails with "Bad Request" on Test.

The convention here: the port of an ``oauth_connector`` connection is 0 ("the port of the API base URL").
The hook ignores a port of 0 (:func:`airflow_oauth_connector.profile.OAuthProfile.from_fields` only appends a
non-zero port), so 0 and null mean the same to it. The api-server's ORM is told the convention: a row
saved with no port is stored with 0, and a row stored earlier with null (by the CLI, an older version, a
migration) is read as 0, without marking it changed. The test route then compares 0 with 0 and runs the
hook's ``test_connection``. Installed by the plugin's web app, i.e. only in the api-server process.
"""

from __future__ import annotations

import threading
from typing import Any

from airflow_oauth_connector.profile import CONN_TYPE

UNUSED_PORT = 0
_installed = False
_lock = threading.Lock()


def _loaded(target: Any, *_args: Any) -> None:
    """ORM ``load`` / ``refresh``: a stored null port of ours is read as 0 (not a change to flush)."""
    if getattr(target, "conn_type", None) == CONN_TYPE and target.port is None:
        from sqlalchemy.orm.attributes import set_committed_value

        set_committed_value(target, "port", UNUSED_PORT)


def _saving(_mapper: Any, _connection: Any, target: Any) -> None:
    """ORM ``before_insert`` / ``before_update``: an ``oauth_connector`` row is stored with port 0."""
    if getattr(target, "conn_type", None) == CONN_TYPE and target.port is None:
        target.port = UNUSED_PORT


def install() -> bool:
    """Register the convention with Airflow's ``Connection`` model once per process; ``True`` if it was new."""
    global _installed
    with _lock:
        if _installed:
            return False
        from airflow.models.connection import Connection
        from sqlalchemy import event

        event.listen(Connection, "load", _loaded)
        event.listen(Connection, "refresh", _loaded)
        event.listen(Connection, "before_insert", _saving)
        event.listen(Connection, "before_update", _saving)
        _installed = True
        return True
