"""
Request dependencies of the OAuth profiles app: the user, the form, the services, permission and CSRF checks.

Users are authenticated exactly like the Airflow UI's own API calls (``get_user``: the ``_token`` JWT
cookie the UI keeps, or an ``Authorization: Bearer`` header) and authorized with the auth manager's
``is_authorized_connection(method="PUT")`` for each connection. POSTs carry a CSRF token
(:mod:`airflow_oauth_connector.plugins.security`): the HTML forms in a form field, the native page's JSON
calls in the ``X-CSRF-Token`` header. A new route declares ``user: UserDep`` (and ``form: FormDep`` or
``body: JsonDep`` for a POST) and calls :func:`require_edit` / :func:`require_csrf` / :func:`require_csrf_header`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from airflow_oauth_connector.plugins import access_log, headers
from airflow_oauth_connector.plugins.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CsrfProtector,
    OutcomeSigner,
    PendingAuthorizations,
    StateBackend,
    server_secret,
)

MAX_FORM_BYTES = 16 * 1024
MAX_JSON_BYTES = 64 * 1024
CSRF_HEADER = "X-CSRF-Token"
NO_STORE = headers.NO_STORE

Authorizer = Callable[[Any, "str | None"], bool]
"""``(user, conn_id) -> may this user edit that connection`` (``conn_id=None``: connections in general)."""

UserResolver = Callable[[Request], Awaitable[Any]]


@dataclass
class PluginServices:
    csrf: CsrfProtector
    pending: PendingAuthorizations
    is_allowed: Authorizer
    outcomes: OutcomeSigner


@dataclass
class PluginSettings:
    """What :func:`~airflow_oauth_connector.plugins.app.create_app` was given (``None``: Airflow's own part)."""

    secret: bytes | None = None
    state_backend: StateBackend | None = None
    is_allowed: Authorizer | None = None
    user_resolver: UserResolver | None = None


_services_guard = threading.Lock()


def services(request: Request) -> PluginServices:
    """The app's services, built on first use (the signing secret is read only then)."""
    state = request.app.state
    with _services_guard:
        built: PluginServices | None = getattr(state, "services", None)
        if built is None:
            settings: PluginSettings = state.settings
            key = settings.secret if settings.secret is not None else server_secret()
            built = state.services = PluginServices(
                csrf=CsrfProtector.from_secret(key),
                pending=PendingAuthorizations.from_secret(key, settings.state_backend),
                is_allowed=settings.is_allowed or auth_manager_allows,
                outcomes=OutcomeSigner.from_secret(key),
            )
        return built


async def current_user(request: Request) -> Any:
    """The signed-in Airflow user, resolved like Airflow's own API routes do (401 / 403 otherwise)."""
    settings: PluginSettings = request.app.state.settings
    if settings.user_resolver is not None:
        return await settings.user_resolver(request)
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    return await get_user(request, None, credentials)


async def form_fields(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST (the page's forms are tiny; no multipart)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "The form is too large.")
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items() if values}


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object of a POST from the native page (``{}`` for an empty body)."""
    body = await request.body()
    if len(body) > MAX_JSON_BYTES:
        raise HTTPException(413, "The request is too large.")
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        raise HTTPException(400, "The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise HTTPException(400, "The request body must be a JSON object.")
    return value


UserDep = Annotated[Any, Depends(current_user)]
FormDep = Annotated[dict[str, str], Depends(form_fields)]
JsonDep = Annotated[dict[str, Any], Depends(json_body)]


def auth_manager_allows(user: Any, conn_id: str | None) -> bool:
    """The auth manager's verdict on editing (``PUT``) ``conn_id`` (team-aware like Airflow's own routes)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import ConnectionDetails
    from airflow.models import Connection

    team_name = Connection.get_team_name(conn_id) if conn_id else None
    details = ConnectionDetails(conn_id=conn_id, team_name=team_name)
    return bool(get_auth_manager().is_authorized_connection(method="PUT", details=details, user=user))


def require_edit(request: Request, user: Any, conn_id: str) -> None:
    if not services(request).is_allowed(user, conn_id):
        raise HTTPException(403, f"You may not edit connection {conn_id!r}, so you cannot manage its tokens.")


def require_edit_any(request: Request, user: Any) -> None:
    """403 unless ``user`` may edit connections in general (adding one, the form, validation)."""
    if not services(request).is_allowed(user, None):
        raise HTTPException(403, "You may not edit connections, so you cannot manage OAuth profiles.")


def require_csrf_header(request: Request, user: Any) -> None:
    """The native page's state-changing calls carry the session's CSRF token in the ``X-CSRF-Token`` header."""
    token = request.headers.get(CSRF_HEADER)
    if not services(request).csrf.verify(request.cookies.get(CSRF_COOKIE), user_id(user), token):
        raise HTTPException(
            403, "The page's security token is missing or out of date (CSRF check). Reload the page and retry."
        )


def csrf_nonce(request: Request) -> tuple[str, bool]:
    """This browser's CSRF nonce (from its cookie), or a new one; ``True`` when new (then set the cookie)."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if nonce and len(nonce) <= 256:
        return nonce, False
    return services(request).csrf.new_nonce(), True


def set_csrf_cookie(request: Request, response: Response, nonce: str) -> None:
    """The nonce cookie: HttpOnly, ``SameSite=Strict``, only sent to the plugin's own routes."""
    secure = request.url.scheme == "https"
    path = plugin_path(request) or "/"
    response.set_cookie(CSRF_COOKIE, nonce, path=path, httponly=True, samesite="strict", secure=secure)


def require_csrf(request: Request, user: Any, form: dict[str, str]) -> None:
    if not services(request).csrf.verify(request.cookies.get(CSRF_COOKIE), user_id(user), form.get(CSRF_FIELD)):
        raise HTTPException(
            403, "The form's security token is missing or out of date (CSRF check). Reload the page and retry."
        )


def user_id(user: Any) -> str:
    return str(user.get_id())


def user_name(user: Any) -> str:
    try:
        return str(user.get_name())
    except Exception:
        return user_id(user)


def plugin_url(request: Request) -> str:
    """The plugin's absolute base URL for this request, e.g. ``http://host:8080/oauth-connector``."""
    return str(request.url_for("profiles")).rstrip("/")


def plugin_path(request: Request) -> str:
    return urlsplit(plugin_url(request)).path.rstrip("/")


def sign_in_url(request: Request) -> str | None:
    """
    The auth manager's login page, coming back to this page (only for GETs: a POST cannot be resumed; nor the
    callback: its code must not travel on in a URL that the login page's access-log line would show).
    """
    resumable = request.method == "GET" and not request.url.path.endswith(access_log.CALLBACK_PATH)
    next_url = str(request.url) if resumable else str(request.url_for("profiles"))
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return str(get_auth_manager().get_url_login(next_url=next_url))
    except Exception:
        return None
