"""
The FastAPI app of the OAuth profiles page, mounted by the api-server under ``/oauth-connector``.

Routes (all need a signed-in Airflow user who may edit the connection(s): 401 / 403 otherwise):

``GET  /``                             the list of ``oauth_connector`` connections with status and actions
``POST /profiles/{conn_id}/authorize`` start the authorization-code grant: 303 to the provider
``GET  /callback``                     the provider's redirect: check state, exchange the code, save
``POST /profiles/{conn_id}/test``      fetch a token now (the hook's ``test_connection``)
``POST /profiles/{conn_id}/forget``    remove the stored tokens

Users are authenticated exactly like the Airflow UI's own API calls (``get_user``: the ``_token`` JWT
cookie the UI keeps, or an ``Authorization: Bearer`` header) and authorized with the auth manager's
``is_authorized_connection(method="PUT")`` for each connection. POSTs carry a CSRF token
(:mod:`airflow_oauth_connector.plugins.security`). Nothing rendered or logged here contains a secret.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from airflow_oauth_connector.exceptions import OAuthConnectorError, StateError
from airflow_oauth_connector.plugins.pages import Notice, ProfileRow, profiles_page, result_page
from airflow_oauth_connector.plugins.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CsrfProtector,
    PendingAuthorizations,
    StateBackend,
    server_secret,
)
from airflow_oauth_connector.plugins.urls import airflow_base_path, default_callback_url, redirect_uri_for
from airflow_oauth_connector.profile import GrantType
from airflow_oauth_connector.redaction import register_secret_everywhere, scrub

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

    from airflow_oauth_connector.authorization import ProfileStatus
    from airflow_oauth_connector.profile import OAuthProfile

log = logging.getLogger(__name__)

_MAX_FORM_BYTES = 16 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}

Authorizer = Callable[[Any, "str | None"], bool]
"""``(user, conn_id) -> may this user edit that connection`` (``conn_id=None``: connections in general)."""


@dataclass
class PluginServices:
    csrf: CsrfProtector
    pending: PendingAuthorizations
    is_allowed: Authorizer


UserResolver = Callable[[Request], Awaitable[Any]]


async def current_user(request: Request) -> Any:
    """The signed-in Airflow user, resolved like Airflow's own API routes do (401 / 403 otherwise)."""
    resolver: UserResolver | None = getattr(request.app.state, "user_resolver", None)
    if resolver is not None:
        return await resolver(request)
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    return await get_user(request, None, credentials)


async def form_fields(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST (the page's forms are tiny; no multipart)."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise HTTPException(413, "The form is too large.")
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items() if values}


UserDep = Annotated[Any, Depends(current_user)]
FormDep = Annotated[dict[str, str], Depends(form_fields)]


def _auth_manager_allows(user: Any, conn_id: str | None) -> bool:
    """The auth manager's verdict on editing (``PUT``) ``conn_id`` (team-aware like Airflow's own routes)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import ConnectionDetails
    from airflow.models import Connection

    team_name = Connection.get_team_name(conn_id) if conn_id else None
    details = ConnectionDetails(conn_id=conn_id, team_name=team_name)
    return bool(get_auth_manager().is_authorized_connection(method="PUT", details=details, user=user))


@functools.cache
def get_app() -> FastAPI:
    """The app the api-server mounts (built once per process)."""
    from airflow_oauth_connector.plugins import standard_fields

    standard_fields.install()  # the Connections page's Test button works for our connections
    return create_app()


def create_app(
    *,
    secret: bytes | None = None,
    state_backend: StateBackend | None = None,
    is_allowed: Authorizer | None = None,
    user_resolver: UserResolver | None = None,
) -> FastAPI:
    """
    Build the app. The keyword arguments replace Airflow's parts in tests: the signing secret (default
    ``[api] secret_key``), where pending authorizations live (default: Variables in the metadata DB), the
    permission check (default: the auth manager) and how the user is found (default: Airflow's ``get_user``).
    """
    app = FastAPI(title="OAuth profiles", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.user_resolver = user_resolver

    @functools.cache
    def services() -> PluginServices:
        key = secret if secret is not None else server_secret()
        return PluginServices(
            csrf=CsrfProtector.from_secret(key),
            pending=PendingAuthorizations.from_secret(key, state_backend),
            is_allowed=is_allowed or _auth_manager_allows,
        )

    def require_edit(user: Any, conn_id: str) -> None:
        if not services().is_allowed(user, conn_id):
            raise HTTPException(403, f"You may not edit connection {conn_id!r}, so you cannot manage its tokens.")

    def require_csrf(request: Request, user: Any, form: dict[str, str]) -> None:
        if not services().csrf.verify(request.cookies.get(CSRF_COOKIE), _user_id(user), form.get(CSRF_FIELD)):
            raise HTTPException(
                403, "The form's security token is missing or out of date (CSRF check). Reload the page and retry."
            )

    def page(request: Request, user: Any, notice: Notice | None = None, status_code: int = 200) -> HTMLResponse:
        svc = services()
        rows = [_row(conn_id, request) for conn_id in _connection_ids() if svc.is_allowed(user, conn_id)]
        if not rows and not svc.is_allowed(user, None):
            raise HTTPException(403, "You may not edit connections, so you cannot manage OAuth profiles.")
        nonce = request.cookies.get(CSRF_COOKIE)
        new_cookie = not nonce or len(nonce) > 256
        if new_cookie:
            nonce = svc.csrf.new_nonce()
        assert nonce is not None
        html = profiles_page(
            rows,
            base=_plugin_path(request),
            airflow_home_url=f"{airflow_base_path()}/",
            user_name=_user_name(user),
            csrf_token=svc.csrf.token_for(nonce, _user_id(user)),
            callback_url=default_callback_url(_plugin_url(request)),
            notice=notice,
        )
        response = HTMLResponse(html, status_code=status_code, headers=_NO_STORE)
        if new_cookie:
            response.set_cookie(
                CSRF_COOKIE,
                nonce,
                path=_plugin_path(request) or "/",
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response

    @app.get("/", name="profiles", response_class=HTMLResponse)
    def list_profiles(request: Request, user: UserDep) -> HTMLResponse:
        return page(request, user)

    @app.post("/profiles/{conn_id}/authorize", name="authorize")
    def authorize(request: Request, conn_id: str, user: UserDep, form: FormDep) -> Response:
        require_edit(user, conn_id)
        require_csrf(request, user, form)
        profile = _load_profile_or_400(conn_id)
        if profile.grant_type is not GrantType.AUTHORIZATION_CODE:
            raise HTTPException(400, f"Connection {conn_id!r} uses the client-credentials grant: nothing to authorize.")
        from airflow_oauth_connector.grants import build_authorization_request
        from airflow_oauth_connector.token_client import TokenClient

        try:
            authorize_url = TokenClient(profile).endpoints.authorize_url
        except OAuthConnectorError as exc:
            raise HTTPException(502, f"Could not find the authorization endpoint: {exc}") from None
        if not authorize_url:
            raise HTTPException(400, f"Connection {conn_id!r} has no authorization URL.")
        pending = services().pending
        state = pending.new_state()
        redirect_uri = redirect_uri_for(profile, _plugin_url(request))
        auth_request = build_authorization_request(profile, authorize_url, redirect_uri=redirect_uri, state=state)
        pending.create(
            conn_id,
            _user_id(user),
            redirect_uri=redirect_uri,
            code_verifier=auth_request.code_verifier,
            state=state,
        )
        log.info("OAuth profiles: user %r started authorizing connection %r", _user_name(user), conn_id)
        return RedirectResponse(auth_request.url, status_code=303, headers=_NO_STORE)

    @app.get("/callback", name="callback", response_class=HTMLResponse)
    def callback(request: Request, user: UserDep) -> HTMLResponse:
        params = request.query_params
        profiles_url = f"{_plugin_path(request)}/"
        register_secret_everywhere(params.get("code"))  # the api-server's access log would print the query string
        try:
            pending = services().pending.take(params.get("state"), _user_id(user))
        except StateError as exc:
            code_ = 403 if exc.problem == "other_user" else 400
            return _result(Notice("error", "Authorization failed", str(exc)), profiles_url, code_)
        conn_id = pending.conn_id
        require_edit(user, conn_id)
        if params.get("error"):
            error = params.get("error", "")[:100]
            description = (params.get("error_description") or "")[:300]
            text = f"The authorization server answered '{error}'" + (f": {description}" if description else "")
            if error == "access_denied":
                text += " (the request was declined at the provider)"
            log.info("OAuth profiles: authorization of %r ended with provider error %r", conn_id, error)
            return _result(
                Notice("error", f"Connection {conn_id!r} was not authorized", text + ". Nothing was stored."),
                profiles_url,
                400,
            )
        profile = _load_profile_or_400(conn_id)
        code = params.get(profile.code_param)  # Amazon names it spapi_oauth_code
        register_secret_everywhere(code)
        if not code:
            return _result(
                Notice("error", "Authorization failed", "The provider sent no authorization code. Nothing was stored."),
                profiles_url,
                400,
            )
        from airflow_oauth_connector.authorization import exchange_and_save

        started = time.monotonic()
        try:
            new_status = exchange_and_save(
                profile, code, pending.code_verifier, pending.redirect_uri, callback_params=dict(params)
            )
        except OAuthConnectorError as exc:
            message = scrub(str(exc), (code, pending.code_verifier))
            log.warning("OAuth profiles: code exchange for %r failed: %s", conn_id, type(exc).__name__)
            return _result(
                Notice(
                    "error",
                    f"Connection {conn_id!r} was not authorized",
                    f"Exchanging the authorization code failed: {message}. Nothing was stored.",
                ),
                profiles_url,
                502,
            )
        except Exception as exc:
            log.warning("OAuth profiles: code exchange for %r failed: %s", conn_id, type(exc).__name__)
            return _result(
                Notice(
                    "error",
                    f"Connection {conn_id!r} was not authorized",
                    f"Exchanging the authorization code failed ({type(exc).__name__}). Nothing was stored.",
                ),
                profiles_url,
                502,
            )
        log.info("OAuth profiles: user %r authorized connection %r", _user_name(user), conn_id)
        return _result(
            Notice("success", f"Connection {conn_id!r} is authorized", new_status.describe()),
            profiles_url,
            200,
            details=f"Token exchange took {time.monotonic() - started:.2f} s. Tasks now use the stored refresh token.",
        )

    @app.post("/profiles/{conn_id}/test", name="test")
    async def test(request: Request, conn_id: str, user: UserDep, form: FormDep) -> HTMLResponse:
        require_edit(user, conn_id)
        require_csrf(request, user, form)
        ok, message = await run_in_threadpool(_test_connection, conn_id)
        notice = Notice("success" if ok else "error", f"Test of {conn_id!r} {'passed' if ok else 'failed'}", message)
        return await run_in_threadpool(page, request, user, notice)

    @app.post("/profiles/{conn_id}/forget", name="forget")
    async def forget(request: Request, conn_id: str, user: UserDep, form: FormDep) -> HTMLResponse:
        require_edit(user, conn_id)
        require_csrf(request, user, form)
        from airflow_oauth_connector.authorization import forget_tokens

        try:
            await run_in_threadpool(forget_tokens, conn_id)
        except OAuthConnectorError as exc:
            notice = Notice("error", f"Could not forget the tokens of {conn_id!r}", str(exc))
        else:
            log.info("OAuth profiles: user %r removed the tokens of connection %r", _user_name(user), conn_id)
            notice = Notice("success", f"Tokens of {conn_id!r} removed", "Authorize it again before tasks use it.")
        return await run_in_threadpool(page, request, user, notice)

    @app.exception_handler(HTTPException)
    async def html_errors(request: Request, exc: HTTPException) -> Response:
        status_code = exc.status_code
        title = {401: "Sign in to Airflow first", 403: "Not allowed"}.get(status_code, "Request failed")
        message = str(exc.detail)
        sign_in_url = None
        if status_code == 401:
            message = f"{message}. Sign in to Airflow, then open this page again."
            sign_in_url = _sign_in_url(request)
        html = result_page(
            Notice("error", title, message), profiles_url=f"{_plugin_path(request)}/", sign_in_url=sign_in_url
        )
        headers = {**_NO_STORE, **(exc.headers or {})}
        return HTMLResponse(html, status_code=status_code, headers=headers)

    return app


# ------------------------------------------------------------------------------------------------ helpers
def _result(notice: Notice, profiles_url: str, status: int, details: str = "") -> HTMLResponse:
    return HTMLResponse(
        result_page(notice, profiles_url=profiles_url, details=details), status_code=status, headers=_NO_STORE
    )


def _sign_in_url(request: Request) -> str | None:
    """The auth manager's login page, coming back to this page (only for GETs: a POST cannot be resumed)."""
    next_url = str(request.url) if request.method == "GET" else str(request.url_for("profiles"))
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return str(get_auth_manager().get_url_login(next_url=next_url))
    except Exception:
        return None


def _plugin_url(request: Request) -> str:
    """The plugin's absolute base URL for this request, e.g. ``http://host:8080/oauth-connector``."""
    return str(request.url_for("profiles")).rstrip("/")


def _plugin_path(request: Request) -> str:
    return urlsplit(_plugin_url(request)).path.rstrip("/")


def _user_id(user: BaseUser | Any) -> str:
    return str(user.get_id())


def _user_name(user: BaseUser | Any) -> str:
    try:
        return str(user.get_name())
    except Exception:
        return _user_id(user)


def _connection_ids() -> list[str]:
    from airflow_oauth_connector.authorization import list_connection_ids

    return list_connection_ids()


def _load_profile_or_400(conn_id: str) -> OAuthProfile:
    from airflow_oauth_connector.authorization import load_profile

    try:
        return load_profile(conn_id)
    except OAuthConnectorError as exc:
        raise HTTPException(400, str(exc)) from None


def _row(conn_id: str, request: Request) -> ProfileRow:
    from airflow_oauth_connector.authorization import connection_status, format_time, load_profile, profile_status

    profile: OAuthProfile | None
    try:
        profile = load_profile(conn_id)
        status: ProfileStatus = profile_status(profile)
    except OAuthConnectorError:
        profile = None
        status = connection_status(conn_id)
    return ProfileRow(
        conn_id=conn_id,
        grant_type=status.grant_type,
        state=status.state,
        description=status.describe(),
        scope=status.scope,
        last_refresh=format_time(status.last_refresh) if status.last_refresh else None,
        redirect_uri=redirect_uri_for(profile, _plugin_url(request)) if profile is not None else None,
    )


def _test_connection(conn_id: str) -> tuple[bool, str]:
    """The hook's ``test_connection`` with the provider's shared token store (a rotated refresh token lands
    where tasks will look for it)."""
    from airflow_oauth_connector.authorization import load_profile
    from airflow_oauth_connector.hooks import OAuthConnectorHook
    from airflow_oauth_connector.store.factory import store_for

    try:
        profile = load_profile(conn_id)
        hook = OAuthConnectorHook(conn_id, token_store=store_for(profile))
        return hook.test_connection()
    except OAuthConnectorError as exc:
        return False, str(exc)
    except Exception as exc:
        return False, f"Could not test the connection ({type(exc).__name__})"
