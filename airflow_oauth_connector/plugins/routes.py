"""
The OAuth profiles page's routes, one small function each (the HTML views; add JSON routes to another router).

``GET  /``                             the list of ``oauth_connector`` connections with status and actions
``POST /profiles/{conn_id}/authorize`` start the authorization-code grant: 303 to the provider
``GET  /callback``                     the provider's redirect: check state, exchange the code, save
``POST /profiles/{conn_id}/test``      fetch a token now (the hook's ``test_connection``)
``POST /profiles/{conn_id}/forget``    remove the stored tokens

All need a signed-in Airflow user who may edit the connection(s) (:mod:`.deps`: 401 / 403 otherwise).
Nothing rendered or logged here contains a secret.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from airflow_oauth_connector import authorization, capture
from airflow_oauth_connector.authorization import callback, service
from airflow_oauth_connector.exceptions import (
    AuthorizationError,
    CaptureError,
    OAuthConnectorError,
    ProfileError,
    StateError,
)
from airflow_oauth_connector.hooks.oauth import OAuthConnectorHook
from airflow_oauth_connector.plugins import bundle
from airflow_oauth_connector.plugins.deps import (
    NO_STORE,
    FormDep,
    UserDep,
    csrf_nonce,
    plugin_path,
    require_csrf,
    require_edit,
    require_edit_any,
    services,
    set_csrf_cookie,
    user_id,
    user_name,
)
from airflow_oauth_connector.plugins.pages import Notice, ProfileRow, RowFailure, profiles_page, result_page
from airflow_oauth_connector.plugins.security import PendingAuthorization
from airflow_oauth_connector.plugins.urls import airflow_base_path, default_callback_url, redirect_uri_for
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.redaction import register_secret_everywhere, scrub
from airflow_oauth_connector.status import Where
from airflow_oauth_connector.token_client import TokenClient

log = logging.getLogger(__name__)

OUTCOME_PARAM = "oauth_outcome"
"""The native page's query parameter carrying a callback's signed notice."""

router = APIRouter()


@router.get("/", name="profiles", response_class=HTMLResponse)
def list_profiles(request: Request, user: UserDep) -> HTMLResponse:
    return render_profiles(request, user)


@router.post("/profiles/{conn_id}/authorize", name="authorize")
def authorize(request: Request, conn_id: str, user: UserDep, form: FormDep) -> Response:
    require_edit(request, user, conn_id)
    require_csrf(request, user, form)
    return RedirectResponse(begin_authorization(request, user, conn_id), status_code=303, headers=NO_STORE)


def begin_authorization(request: Request, user: Any, conn_id: str, return_to: str | None = None) -> str:
    """Create the pending authorization of ``conn_id`` and return the provider's authorization URL."""
    profile = _load_profile_or_400(conn_id)
    pending = services(request).pending
    state = pending.new_state()
    redirect_uri = redirect_uri_for(profile)
    auth_request = _start(profile, redirect_uri, state)
    pending.create(
        conn_id,
        user_id(user),
        redirect_uri=redirect_uri,
        code_verifier=auth_request.code_verifier,
        nonce=auth_request.nonce,
        state=state,
        return_to=return_to,
    )
    log.info("OAuth profiles: user %r started authorizing connection %r", user_name(user), conn_id)
    return str(auth_request.url)


@router.get("/callback", name="callback", response_class=HTMLResponse)
def callback_route(request: Request, user: UserDep) -> Response:
    params = dict(request.query_params)
    profiles_url = f"{plugin_path(request)}/"
    register_secret_everywhere(params.get("code"))  # the api-server's access log would print the query string
    try:
        pending = services(request).pending.take(params.get("state"), user_id(user))
    except StateError as exc:
        return _result(
            Notice("error", "Authorization failed", str(exc)), profiles_url, 403 if exc.problem == "other_user" else 400
        )
    conn_id = pending.conn_id
    require_edit(request, user, conn_id)
    profile = _load_profile_or_400(conn_id)
    register_secret_everywhere(params.get(profile.code_param))  # Amazon names it spapi_oauth_code
    try:  # the state was matched server-side by take()
        answer = callback.parse_callback(params, code_param=profile.code_param)
        capture.callback_values(profile, answer.params)  # an incomplete redirect: 400, before the code is spent
    except AuthorizationError as exc:
        log.info("OAuth profiles: authorization of %r ended without a code (%s)", conn_id, exc.error or "no code")
        notice = Notice("error", f"Connection {conn_id!r} was not authorized", f"{exc.reason}. Nothing was stored.")
        return _back(request, user, pending, notice, 400)
    except CaptureError as exc:
        return _back(
            request, user, pending, Notice("error", f"Connection {conn_id!r} was not authorized", str(exc)), 400
        )
    started = time.monotonic()
    try:
        new_status = service.finish(profile, answer, pending.code_verifier, pending.redirect_uri, nonce=pending.nonce)
    except Exception as exc:
        secrets = (answer.code, pending.code_verifier, pending.nonce)
        authorization.record_failure(profile, exc, Where.PAGE, secrets)  # shown in the list, "in page"
        return _back(request, user, pending, _exchange_failed(conn_id, exc, secrets), 502)
    log.info("OAuth profiles: user %r authorized connection %r", user_name(user), conn_id)
    details = f"Token exchange took {time.monotonic() - started:.2f} s. Tasks now use the stored refresh token."
    notice = Notice("success", f"Connection {conn_id!r} is authorized", new_status.describe())
    return _back(request, user, pending, notice, 200, details)


@router.post("/profiles/{conn_id}/test", name="test")
async def test(request: Request, conn_id: str, user: UserDep, form: FormDep) -> HTMLResponse:
    require_edit(request, user, conn_id)
    require_csrf(request, user, form)
    ok, message = await run_in_threadpool(test_connection, conn_id)
    notice = Notice("success" if ok else "error", f"Test of {conn_id!r} {'passed' if ok else 'failed'}", message)
    return await run_in_threadpool(render_profiles, request, user, notice)


@router.post("/profiles/{conn_id}/forget", name="forget")
async def forget(request: Request, conn_id: str, user: UserDep, form: FormDep) -> HTMLResponse:
    require_edit(request, user, conn_id)
    require_csrf(request, user, form)
    try:
        await run_in_threadpool(authorization.forget_tokens, conn_id)
    except OAuthConnectorError as exc:
        notice = Notice("error", f"Could not forget the tokens of {conn_id!r}", str(exc))
    else:
        log.info("OAuth profiles: user %r removed the tokens of connection %r", user_name(user), conn_id)
        notice = Notice("success", f"Tokens of {conn_id!r} removed", "Authorize it again before tasks use it.")
    return await run_in_threadpool(render_profiles, request, user, notice)


# ------------------------------------------------------------------------------------------------ views
def render_profiles(request: Request, user: Any, notice: Notice | None = None, status_code: int = 200) -> HTMLResponse:
    """The profiles page for ``user`` (the connections they may edit), setting the CSRF cookie if it is new."""
    svc = services(request)
    rows = [
        profile_row(conn_id, request)
        for conn_id in authorization.list_connection_ids()
        if svc.is_allowed(user, conn_id)
    ]
    if not rows:
        require_edit_any(request, user)
    nonce, new_cookie = csrf_nonce(request)
    html = profiles_page(
        rows,
        base=plugin_path(request),
        airflow_home_url=f"{airflow_base_path()}/",
        user_name=user_name(user),
        csrf_token=svc.csrf.token_for(nonce, user_id(user)),
        callback_url=default_callback_url(),
        notice=notice,
        native_url=bundle.native_page_path(airflow_base_path()) if bundle.available() else None,
    )
    response = HTMLResponse(html, status_code=status_code, headers=NO_STORE)
    if new_cookie:
        set_csrf_cookie(request, response, nonce)
    return response


def profile_row(conn_id: str, request: Request) -> ProfileRow:
    profile, status = authorization.connection_profile_status(conn_id)
    return ProfileRow(
        conn_id=conn_id,
        grant_type=status.grant_type,
        state=status.state,
        description=status.describe(),
        scope=status.scope,
        last_refresh=authorization.format_time(status.last_refresh) if status.last_refresh else None,
        redirect_uri=redirect_uri_for(profile) if profile is not None else None,
        failure=_row_failure(status.last_failure),
        last_success=authorization.format_time(status.last_success) if status.last_success else None,
        refresh_expiry=status.refresh_expiry_text(),
    )


def _row_failure(failure: authorization.FailureInfo | None) -> RowFailure | None:
    if failure is None:
        return None
    at = authorization.format_time(failure.at) if failure.at else None
    return RowFailure(kind=failure.kind, at=at, where=failure.where, message=failure.message)


def test_connection(conn_id: str) -> tuple[bool, str]:
    """
    The hook's ``test_connection`` with the connection's token store, as tasks use it (a rotated refresh token
    lands where they look for it). Settings the profile loader refuses are the hook's to name and record (the
    status shows the failed Test); a connection that is undefined or of another type is refused here.
    """
    try:
        authorization.load_profile(conn_id)
    except ProfileError:
        pass
    except OAuthConnectorError as exc:
        return False, str(exc)
    try:
        return OAuthConnectorHook(conn_id).test_connection()
    except OAuthConnectorError as exc:
        return False, str(exc)
    except Exception as exc:
        return False, f"Could not test the connection ({type(exc).__name__})"


# ------------------------------------------------------------------------------------------------ helpers
def _start(profile: OAuthProfile, redirect_uri: str, state: str) -> Any:
    """The service's authorization request; its failures as HTTP errors (400: the connection, 502: discovery)."""
    try:
        service.check_authorizable(profile)
        client = TokenClient(profile)
        service.authorize_url(client)
    except AuthorizationError as exc:
        raise HTTPException(400, str(exc)) from None
    except OAuthConnectorError as exc:
        raise HTTPException(502, f"Could not find the authorization endpoint: {exc}") from None
    return service.start(profile, redirect_uri, client=client, state=state)


def _exchange_failed(conn_id: str, exc: Exception, secrets: tuple[str | None, ...]) -> Notice:
    log.warning("OAuth profiles: code exchange for %r failed: %s", conn_id, type(exc).__name__)
    if isinstance(exc, OAuthConnectorError):
        text = f"Exchanging the authorization code failed: {scrub(str(exc), secrets)}. Nothing was stored."
    else:
        text = f"Exchanging the authorization code failed ({type(exc).__name__}). Nothing was stored."
    return Notice("error", f"Connection {conn_id!r} was not authorized", text)


def _back(
    request: Request, user: Any, pending: PendingAuthorization, notice: Notice, status: int, details: str = ""
) -> Response:
    """The end of a callback: back to the native page inside Airflow (with the signed notice), or the HTML page."""
    if pending.return_to == "native":
        outcome = {"kind": notice.kind, "title": notice.title, "message": notice.message, "details": details}
        token = services(request).outcomes.sign(outcome, user_id(user))
        target = f"{bundle.native_page_path(airflow_base_path())}?{urlencode({OUTCOME_PARAM: token})}"
        return RedirectResponse(target, status_code=303, headers=NO_STORE)
    return _result(notice, f"{plugin_path(request)}/", status, details)


def _result(notice: Notice, profiles_url: str, status: int, details: str = "") -> HTMLResponse:
    return HTMLResponse(
        result_page(notice, profiles_url=profiles_url, details=details), status_code=status, headers=NO_STORE
    )


def _load_profile_or_400(conn_id: str) -> OAuthProfile:
    try:
        return authorization.load_profile(conn_id)
    except OAuthConnectorError as exc:
        raise HTTPException(400, str(exc)) from None
