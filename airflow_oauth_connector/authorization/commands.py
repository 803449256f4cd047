"""
Write commands of an authorization: record a token with the connection and its token store, or forget it.

:func:`save_authorization` writes a freshly obtained token into the connection's ``extra`` (which Airflow
encrypts with its Fernet key) and into the token store, so the newest authorization wins for workers;
:func:`forget_tokens` removes them again (the client secret stays); :func:`record_failure` records a failed
authorization (a code exchange, a device grant) in the status record, as happening on the page or in the CLI;
:func:`record_settings_test` a Test refused for the connection's settings (or, with valid ones, removes that).
"""

from __future__ import annotations

import functools
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from airflow_oauth_connector.authorization.repository import (
    extra_of,
    session_scope,
    stored_connection,
    stored_twins,
    write_extra,
)
from airflow_oauth_connector.status import INVALID_SETTINGS, Failure, TokenStatus, Where, settings_key, update_status
from airflow_oauth_connector.store.factory import settings_store, store_for
from airflow_oauth_connector.token import Token, refresh_origin

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from airflow_oauth_connector.profile import OAuthProfile
    from airflow_oauth_connector.store.base import TokenStore

#: Keys of the connection extra written by :func:`save_authorization`; every one holding a secret has
#: ``token`` in its name, so Airflow's secrets masker hides it in the UI and in logs.
REFRESH_TOKEN_KEY = "refresh_token"
ACCESS_TOKEN_KEY = "access_token"
ACCESS_TOKEN_EXPIRES_KEY = "access_token_expires_at"
AUTHORIZED_AT_KEY = "authorized_at"
AUTHORIZED_SCOPE_KEY = "authorized_scope"
CAPTURED_KEY = "captured"
"""Values captured at authorization (callback parameters, token-response fields, a post-authorization call)."""
AUTHORIZATION_KEYS = (
    REFRESH_TOKEN_KEY,
    ACCESS_TOKEN_KEY,
    ACCESS_TOKEN_EXPIRES_KEY,
    AUTHORIZED_AT_KEY,
    AUTHORIZED_SCOPE_KEY,
    CAPTURED_KEY,
)


def save_authorization(conn_id: str, token: Token, *, session: Session | None = None) -> None:
    """
    Record ``token`` as the connection's authorization, where tasks will find it.

    The refresh token (and the current access token, its expiry, when and with which scope it was
    authorized) go into the connection's ``extra`` in the Airflow metadata database, which Airflow encrypts
    with its Fernet key. A response without a new refresh token keeps the stored one. Then the token is
    saved in the profile's token store under its cache key and any "needs re-authorization" status is
    cleared, so workers use the newest authorization at once. With ``session`` the caller commits.
    """
    with session_scope(session) as db:
        conn = stored_connection(db, conn_id)
        extra = extra_of(conn)
        if token.refresh_token:
            extra[REFRESH_TOKEN_KEY] = token.refresh_token
        extra[ACCESS_TOKEN_KEY] = token.access_token
        extra[ACCESS_TOKEN_EXPIRES_KEY] = token.expires_at
        extra[AUTHORIZED_AT_KEY] = token.issued_at or time.time()
        extra[AUTHORIZED_SCOPE_KEY] = token.scope
        if token.captured:
            extra[CAPTURED_KEY] = dict(token.captured)
        else:
            extra.pop(CAPTURED_KEY, None)
        profile = write_extra(db, conn, extra)
    # The origin ties the cached token to the connection's refresh token, so that token managers treat it
    # as the newest grant (and not as superseded by the connection's refresh token).
    cached = token.with_origin(refresh_origin(profile.refresh_token))
    store = store_for(profile)
    with store.lock(profile.cache_key):
        store.save(profile.cache_key, cached)
        _record_success(store, profile, cached.issued_at or time.time())


def _record_success(store: TokenStore, profile: OAuthProfile, at: float) -> None:
    """The authorization succeeded: the last failure and "needs re-authorization" are cleared, the time kept."""
    update_status(
        store, profile.cache_key, lambda status: status.succeeded(at), conn_id=profile.conn_id, what="the authorization"
    )


def record_failure(
    profile: OAuthProfile, error: BaseException, where: Where | str, secrets: tuple[str | None, ...] = ()
) -> None:
    """
    Record that a person's authorization of ``profile`` failed at ``where`` (``page``, ``cli``): its kind,
    redacted message (``secrets`` removed: the code, the PKCE verifier) and time, for the status views. The
    stored grant, if any, is untouched; a failing store is logged and ignored.
    """
    place = where.value if isinstance(where, Where) else where
    failure = Failure.of(error, at=time.time(), where=place, secrets=(profile.client_secret, *secrets))
    update_status(
        lambda: store_for(profile),
        profile.cache_key,
        lambda status: status.failed(failure, keep_in_flight=True),
        conn_id=profile.conn_id,
        what="the failed authorization",
        lock=True,
    )


def record_settings_test(
    conn_id: str, error: Exception | None, *, store: object | None = None, secrets: tuple[str | None, ...] = ()
) -> None:
    """
    Record a Test of connection ``conn_id`` that its settings failed: ``error`` (the profile loader's, naming
    every bad field; ``secrets`` removed) as a failure of kind ``invalid_settings`` in ``test``, for the status
    views. With ``error=None`` (the settings are valid: the token request's outcome is recorded with the
    profile) the record goes. It lives under :func:`~airflow_oauth_connector.status.settings_key` in
    :func:`~airflow_oauth_connector.store.factory.settings_store` (``store``: the hook's own). Never raises.
    """
    change: TokenStatus | None = None
    if error is not None:
        failure = Failure.of(error, at=time.time(), where=Where.TEST.value, secrets=secrets)
        change = TokenStatus(failure=replace(failure, kind=INVALID_SETTINGS))
    update_status(
        functools.partial(settings_store, store), settings_key(conn_id), change, conn_id=conn_id, what="the test"
    )


def share_test_outcome(profile: OAuthProfile, outcome: TokenStatus) -> list[str]:
    """
    Record a test's ``outcome`` on the stored connections it tested; returns their ids.

    Airflow's Connections page tests a copy of the connection under a random id (``POST
    /api/v2/connections/test`` exports it as ``AIRFLOW_CONN_<random>``), so the hook's own status record is
    not the stored connection's. Every stored ``oauth_connector`` connection with the same credentials and
    endpoints (:func:`~.repository.stored_twins`) gets the outcome (:func:`record_test_outcome`). Nothing
    happens for a connection that is itself stored, or for unsaved settings that differ from every stored
    connection.
    """
    return record_test_outcome(stored_twins(profile), outcome)


def record_test_outcome(twins: Sequence[OAuthProfile], outcome: TokenStatus) -> list[str]:
    """
    Record a test's ``outcome`` on each of ``twins`` (stored connections a test copy stands for): its failure
    (kind, message, time, ``test``) or its success; returns their ids. A twin whose store fails is logged and
    skipped.
    """
    for twin in twins:
        update_status(
            functools.partial(store_for, twin),
            twin.cache_key,
            functools.partial(_with_outcome, outcome),
            conn_id=twin.conn_id,
            what="the connection test's outcome",
            lock=True,
        )
    return [twin.conn_id for twin in twins]


def _with_outcome(outcome: TokenStatus, status: TokenStatus) -> TokenStatus:
    """``status`` after a test's ``outcome``: its failure, else its success (an in-flight refresh stays)."""
    if outcome.last_event_failed and outcome.failure is not None:
        return status.failed(outcome.failure, keep_in_flight=True)
    if outcome.last_success is not None:
        return replace(status.succeeded(outcome.last_success, refreshed=False), in_flight=status.in_flight)
    return status


def forget_tokens(conn_id: str, *, session: Session | None = None) -> None:
    """Remove the stored refresh and access tokens from the connection and its token store."""
    with session_scope(session) as db:
        conn = stored_connection(db, conn_id)
        extra = extra_of(conn)
        for key in AUTHORIZATION_KEYS:
            extra.pop(key, None)
        profile = write_extra(db, conn, extra)
    store = store_for(profile)
    with store.lock(profile.cache_key):
        store.delete(profile.cache_key)
        store.clear_status(profile.cache_key)
