"""The security headers every response of the plugin's web app carries (pages, redirects, errors, API routes)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

FRAME_GUARD = {
    # The pages carry state-changing forms (Authorize, Forget tokens): no other page may frame them.
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


def install(app: Any) -> None:
    """Add :data:`FRAME_GUARD` and :data:`NO_STORE` to every response of ``app`` (a FastAPI app)."""

    async def security_headers(request: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        try:
            response = await call_next(request)
        except Exception:  # an unhandled error's 500 would otherwise leave without the headers
            from starlette.responses import PlainTextResponse

            log.exception("OAuth connector plugin: unhandled error answering %s", request.url.path)  # no query
            response = PlainTextResponse("Internal Server Error", status_code=500)
        for name, value in {**NO_STORE, **FRAME_GUARD}.items():
            response.headers.setdefault(name, value)
        return response

    app.middleware("http")(security_headers)
