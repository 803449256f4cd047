"""
Build the OAuth profiles FastAPI app (mounted under ``/oauth-connector``): settings, routes, error pages.

The HTML routes live in :mod:`.routes` (one small function each), the native page's JSON API in :mod:`.api`,
its bundle's static route in :mod:`.static`, their dependencies (user, form, permission, CSRF) in
:mod:`.deps`. Errors are HTML pages, except under ``/api``: JSON ``{"detail": ...}``.
"""

from __future__ import annotations

import functools

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from airflow_oauth_connector.plugins import access_log, api, headers, static
from airflow_oauth_connector.plugins.deps import (
    NO_STORE,
    Authorizer,
    PluginSettings,
    UserResolver,
    plugin_path,
    sign_in_url,
)
from airflow_oauth_connector.plugins.pages import Notice, result_page
from airflow_oauth_connector.plugins.routes import router
from airflow_oauth_connector.plugins.security import StateBackend

_TITLES = {401: "Sign in to Airflow first", 403: "Not allowed"}


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
    app.state.settings = PluginSettings(secret, state_backend, is_allowed, user_resolver)
    headers.install(app)  # no framing, no caching: every response, errors included
    access_log.install(app)  # the callback's code and state reach the access log redacted, even on a 401
    app.include_router(router)
    app.include_router(api.router)
    app.include_router(static.router)
    app.add_exception_handler(HTTPException, html_errors)  # type: ignore[arg-type]
    return app


async def html_errors(request: Request, exc: HTTPException) -> Response:
    """HTTP errors as the page's own HTML (a 401 links to Airflow's sign-in page); JSON for the API."""
    message = str(exc.detail)
    if request.url.path.startswith(f"{plugin_path(request)}{api.router.prefix}/"):
        return JSONResponse(
            {"detail": message}, status_code=exc.status_code, headers={**NO_STORE, **(exc.headers or {})}
        )
    login = None
    if exc.status_code == 401:
        message = f"{message}. Sign in to Airflow, then open this page again."
        login = sign_in_url(request)
    notice = Notice("error", _TITLES.get(exc.status_code, "Request failed"), message)
    html = result_page(notice, profiles_url=f"{plugin_path(request)}/", sign_in_url=login)
    return HTMLResponse(html, status_code=exc.status_code, headers={**NO_STORE, **(exc.headers or {})})
