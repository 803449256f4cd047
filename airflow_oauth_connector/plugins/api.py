"""
The native OAuth profiles page's JSON API (mounted under ``/oauth-connector/api``), one small function each.

``GET  /api/session``                    who is signed in, the CSRF token (sets its cookie), the callback URL
``GET  /api/profiles``                   the status rows of the ``oauth_connector`` connections the user may edit
``GET  /api/form``                       the guided form's schema (grant types, fields, presets)
``POST /api/validate``                   check a connection's fields before saving; problems name the labels
``POST /api/profiles/{conn_id}/test``      fetch a token now (the hook's ``test_connection``)
``POST /api/profiles/{conn_id}/forget``    remove the stored tokens
``POST /api/profiles/{conn_id}/authorize`` start the authorization-code grant: ``{"url": <provider URL>}``
``GET  /api/outcome?token=``             the notice a callback signed for the page it returned to

Every route needs a signed-in Airflow user who may edit the connection(s) (401 / 403, :mod:`.deps`); POSTs
carry the session's CSRF token in the ``X-CSRF-Token`` header. Creating and updating connections is not
here: the page uses Airflow's own REST API with the user's own permissions. No response holds a secret.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from airflow_oauth_connector import authorization, fields, validation
from airflow_oauth_connector.authorization.repository import find_connection, session_scope
from airflow_oauth_connector.exceptions import OAuthConnectorError
from airflow_oauth_connector.plugins import bundle, routes
from airflow_oauth_connector.plugins.deps import (
    CSRF_HEADER,
    NO_STORE,
    JsonDep,
    UserDep,
    csrf_nonce,
    plugin_path,
    require_csrf_header,
    require_edit,
    require_edit_any,
    services,
    set_csrf_cookie,
    user_id,
    user_name,
)
from airflow_oauth_connector.plugins.urls import airflow_base_path, default_callback_url, redirect_uri_for
from airflow_oauth_connector.profile import CONN_TYPE, GrantType

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api")

_TEXT_FIELDS = ("conn_type", "host", "login", "password")


def _json(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status_code, headers=NO_STORE)


@router.get("/session", name="api_session")
def session(request: Request, user: UserDep) -> JSONResponse:
    require_edit_any(request, user)
    nonce, new_cookie = csrf_nonce(request)
    base = airflow_base_path()
    response = _json(
        {
            "user": user_name(user),
            "csrf_header": CSRF_HEADER,
            "csrf_token": services(request).csrf.token_for(nonce, user_id(user)),
            "callback_url": default_callback_url(),
            "classic_page": f"{plugin_path(request)}/",
            "native_page": bundle.native_page_path(base),
            "conn_type": CONN_TYPE,
        }
    )
    if new_cookie:
        set_csrf_cookie(request, response, nonce)
    return response


@router.get("/profiles", name="api_profiles")
async def profiles(request: Request, user: UserDep) -> JSONResponse:
    rows = await run_in_threadpool(profile_rows, request, user)
    if not rows:
        require_edit_any(request, user)
    return _json({"profiles": rows})


@router.get("/form", name="api_form")
def form(request: Request, user: UserDep) -> JSONResponse:
    require_edit_any(request, user)
    return _json(fields.form_schema())


@router.post("/validate", name="api_validate")
async def validate(request: Request, user: UserDep, body: JsonDep) -> JSONResponse:
    require_csrf_header(request, user)
    require_edit_any(request, user)
    conn_id = str(body.get("connection_id") or "").strip()
    if conn_id and body.get("existing"):
        require_edit(request, user, conn_id)
    problems = await run_in_threadpool(check, conn_id, body)
    return _json({"ok": not problems, "problems": problems})


@router.post("/profiles/{conn_id}/test", name="api_test")
async def test(request: Request, conn_id: str, user: UserDep) -> JSONResponse:
    require_edit(request, user, conn_id)
    require_csrf_header(request, user)
    ok, message = await run_in_threadpool(routes.test_connection, conn_id)
    row = await run_in_threadpool(profile_row, conn_id)
    return _json({"ok": ok, "message": message, "profile": row})


@router.post("/profiles/{conn_id}/forget", name="api_forget")
async def forget(request: Request, conn_id: str, user: UserDep) -> JSONResponse:
    require_edit(request, user, conn_id)
    require_csrf_header(request, user)
    try:
        await run_in_threadpool(authorization.forget_tokens, conn_id)
    except OAuthConnectorError as exc:
        return _json({"ok": False, "message": f"Could not forget the tokens: {exc}"}, 409)
    log.info("OAuth profiles: user %r removed the tokens of connection %r", user_name(user), conn_id)
    row = await run_in_threadpool(profile_row, conn_id)
    return _json({"ok": True, "message": "Tokens removed. Authorize it again before tasks use it.", "profile": row})


@router.post("/profiles/{conn_id}/authorize", name="api_authorize")
async def authorize(request: Request, conn_id: str, user: UserDep) -> JSONResponse:
    require_edit(request, user, conn_id)
    require_csrf_header(request, user)
    url = await run_in_threadpool(routes.begin_authorization, request, user, conn_id, "native")
    return _json({"url": url})


@router.get("/outcome", name="api_outcome")
def outcome(request: Request, user: UserDep, token: str = "") -> JSONResponse:
    notice = services(request).outcomes.verify(token, user_id(user))
    if notice is None:
        raise HTTPException(400, "This authorization result is unknown, expired or for another user.")
    return _json(notice)


# ------------------------------------------------------------------------------------------------ rows
def profile_rows(request: Request, user: Any) -> list[dict[str, Any]]:
    allowed = services(request).is_allowed
    return [profile_row(conn_id) for conn_id in authorization.list_connection_ids() if allowed(user, conn_id)]


def profile_row(conn_id: str) -> dict[str, Any]:
    """One connection's status (``ProfileStatus.to_dict()``) plus what the page needs to offer its actions."""
    profile, status = authorization.connection_profile_status(conn_id)
    row = status.to_dict()
    can_authorize = status.grant_type == GrantType.AUTHORIZATION_CODE.value
    row.update(
        can_authorize=can_authorize,
        authorize_label="Re-authorize" if status.state in ("authorized", "needs_reauthorization") else "Authorize",
        redirect_uri=redirect_uri_for(profile) if profile is not None and can_authorize else None,
        expires_at_text=authorization.format_time(status.expires_at) if status.expires_at else None,
        last_refresh_text=authorization.format_time(status.last_refresh) if status.last_refresh else None,
    )
    return row


# ------------------------------------------------------------------------------------------ validation
def check(conn_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The problems of the submitted fields; an edit's unchanged (masked) secrets count as the stored ones."""
    fields = {name: _text(body.get(name)) for name in _TEXT_FIELDS}
    extra_text = body.get("extra")
    extra: Any = extra_text
    if isinstance(extra_text, str) and extra_text.strip():
        try:
            extra = json.loads(extra_text)
        except ValueError:
            extra = extra_text  # validation names the problem
    if conn_id and body.get("existing"):
        fields["password"], extra = _with_stored_secrets(conn_id, fields["password"], extra)
    problems = validation.check_connection(
        conn_type=fields["conn_type"] or CONN_TYPE,
        host=fields["host"],
        login=fields["login"],
        password=fields["password"],
        extra=extra,
    )
    return [problem.as_dict() for problem in problems]


def _with_stored_secrets(conn_id: str, password: str | None, extra: Any) -> tuple[str | None, Any]:
    """Airflow's REST API masks secrets as ``***`` and merges them back on save; do the same for validation."""
    from airflow._shared.secrets_masker import merge  # what the REST API merges with (3.1 to 3.3)

    with session_scope(None) as db:
        stored = find_connection(db, conn_id)
        if stored is None:
            return password, extra
        if password is not None:
            password = str(merge(password, stored.password, "password"))
        if isinstance(extra, dict):
            extra = merge(extra, stored.extra_dejson)
    return password, extra


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None
