"""
The metadata-DB repository of ``oauth_connector`` connections: find, read and update them (nothing else).

Writes need the Airflow metadata database (connections from environment variables or a secrets backend are
read-only). With a caller's ``session`` the caller commits; without one each function opens (and commits)
its own. The connection's ``extra`` may hold tokens: never print or log what :func:`extra_of` returns.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow_oauth_connector.exceptions import AuthorizationStorageError, OAuthConnectorError
from airflow_oauth_connector.json_field import MAX_EXTRA_CHARS, json_object
from airflow_oauth_connector.profile import CONN_TYPE, OAuthProfile

if TYPE_CHECKING:
    from airflow.models.connection import Connection
    from sqlalchemy.orm import Session


def load_profile(conn_id: str) -> OAuthProfile:
    """
    The profile of connection ``conn_id`` as tasks see it: one :func:`defined_connection` lookup, in Airflow's
    order (secrets backends, then environment variables, then the metadata database), so a connection an
    environment variable or a secrets backend defines wins over a stored row of the same id, as in a task.
    Writes go to the stored row (:func:`stored_connection`), which nothing here needs.
    """
    conn = defined_connection(conn_id)
    _check_type(conn)
    return profile_of(conn)


def defined_connection(conn_id: str) -> Connection:
    """
    Connection ``conn_id`` from wherever Airflow reads connections (secrets backends, environment variables,
    the metadata database); :class:`OAuthConnectorError` "is not defined" when none of them has it.
    """
    from airflow.models import Connection as ConnectionModel

    try:  # Airflow 3.2+ (the same class as airflow.exceptions')
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # Airflow 3.1
        from airflow.exceptions import AirflowNotFoundException  # type: ignore[attr-defined,no-redef,unused-ignore]

    try:
        return ConnectionModel.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        raise OAuthConnectorError(f"Connection {conn_id!r} is not defined") from None


#: The ids Airflow's Test of a connection's settings gives its copy (``airflow.utils.strings.get_random_string()``).
_TEST_COPY_ID = re.compile(r"[A-Za-z0-9]{8}")


def is_test_copy(conn_id: str) -> bool:
    """
    Whether connection ``conn_id`` is the copy Airflow's Test makes (``POST /api/v2/connections/test``, the
    Connections page's Test button): a random id of 8 letters and digits, defined only by the
    ``AIRFLOW_CONN_<ID>`` environment variable the route exports for the test (and removes after), not stored
    in the metadata database. Nothing of its test should be kept under that id: no one will ever look it up.
    ``False`` when the metadata database cannot be asked (the test is then recorded as any connection's).
    """
    if not _TEST_COPY_ID.fullmatch(conn_id) or f"AIRFLOW_CONN_{conn_id.upper()}" not in os.environ:
        return False
    try:
        with session_scope(None) as db:
            return find_connection(db, conn_id) is None
    except Exception:  # no metadata database here (e.g. a task): not a copy that can be told
        return False


def stored_twins(profile: OAuthProfile) -> list[OAuthProfile]:
    """
    The stored ``oauth_connector`` connections a test copy stands for, sorted by id: those with the copy's
    credentials and endpoints (its cache key but for the id). ``[]`` when ``profile``'s own id is stored (it is
    not a copy) or when no stored connection has its settings (unsaved or changed settings).
    """
    from airflow.models import Connection as ConnectionModel
    from sqlalchemy import select

    digest = profile.cache_key.split(":", 1)[1]
    twins: list[OAuthProfile] = []
    with session_scope(None) as db:
        if find_connection(db, profile.conn_id) is not None:
            return []
        for conn in db.scalars(select(ConnectionModel).where(ConnectionModel.conn_type == CONN_TYPE)):
            try:
                twin = profile_of(conn)
            except Exception:  # noqa: S112 - an invalid stored connection is not the one tested
                continue
            if twin.cache_key.split(":", 1)[1] == digest:
                twins.append(twin)
    return sorted(twins, key=lambda twin: twin.conn_id)


def stored_profile(conn_id: str, *, session: Session | None = None) -> OAuthProfile:
    """
    The profile of connection ``conn_id`` as stored in the Airflow metadata database.

    Raises :class:`AuthorizationStorageError` when it is not stored there (its authorization could not be
    saved) and :class:`ProfileError` when it is invalid: check this before sending a person to authorize.
    """
    with session_scope(session) as db:
        return profile_of(stored_connection(db, conn_id))


def list_connection_ids(*, session: Session | None = None) -> list[str]:
    """Ids of the ``oauth_connector`` connections stored in the Airflow metadata database, sorted."""
    from airflow.models import Connection as ConnectionModel
    from sqlalchemy import select

    with session_scope(session) as db:
        rows = db.scalars(select(ConnectionModel.conn_id).where(ConnectionModel.conn_type == CONN_TYPE))
        return sorted(rows)


def write_extra(db: Session, conn: Connection, extra: dict[str, Any]) -> OAuthProfile:
    """Store ``extra`` as the connection's extra (``None`` when empty), flush, return the new profile."""
    conn.set_extra(json.dumps(extra) if extra else None)
    db.flush()
    return profile_of(conn)


@contextmanager
def session_scope(session: Session | None) -> Iterator[Session]:
    """``session`` itself (the caller commits), else a new session committed on exit."""
    if session is not None:
        yield session
        return
    from airflow.utils.session import create_session

    with create_session() as created:
        yield created


def find_connection(db: Session, conn_id: str) -> Connection | None:
    from airflow.models import Connection as ConnectionModel
    from sqlalchemy import select

    return db.scalar(select(ConnectionModel).where(ConnectionModel.conn_id == conn_id))


def stored_connection(db: Session, conn_id: str) -> Connection:
    """The stored ``oauth_connector`` connection ``conn_id``; else :class:`AuthorizationStorageError`."""
    conn = find_connection(db, conn_id)
    if conn is None:
        raise AuthorizationStorageError(
            f"Connection {conn_id!r} is not stored in the Airflow metadata database, so its authorization "
            f"cannot be saved with it (connections from environment variables or a secrets backend are "
            f"read-only): create it with the UI or 'airflow connections add', or store the refresh token in "
            f"its 'refresh_token' extra field yourself"
        )
    _check_type(conn)
    return conn


def extra_of(conn: Connection) -> dict[str, Any]:
    """The connection's ``extra`` as a new dict; :class:`ProfileError` when it is not a JSON object."""
    return dict(json_object(conn.conn_id, "extra", conn.extra, max_chars=MAX_EXTRA_CHARS))


def profile_of(conn: Connection) -> OAuthProfile:
    """The connection's profile; an extra that is not JSON is refused (Airflow would read it as ``{}``)."""
    return OAuthProfile.from_connection(conn, extra_of(conn))


def _check_type(conn: Connection) -> None:
    if conn.conn_type != CONN_TYPE:
        raise AuthorizationStorageError(
            f"Connection {conn.conn_id!r} has type {conn.conn_type!r}, not {CONN_TYPE!r} (OAuth 2.0 API)"
        )
