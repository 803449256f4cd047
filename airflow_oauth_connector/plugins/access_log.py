"""
Keep authorization codes out of the api-server's access log: the callback's query values are logged redacted.

The provider's redirect carries the code (``code``, or a preset's own name such as Amazon's ``spapi_oauth_code``),
the ``state`` and sometimes account ids in its query. The api-server logs each request's query string after the
response: Airflow 3.3's ``HttpAccessLogMiddleware`` (it masks only names that look secret, such as ``password``,
never ``code``) and 3.1/3.2's uvicorn access log both read it from the request's ASGI scope, also for a callback
refused before our handler runs (signed out: 401). :class:`RedactCallbackQuery` therefore hands the plugin's
app a copy of the scope with the real query and leaves a redacted one (names kept, every value replaced)
in the scope the server's loggers read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

#: What stands in a logged query for each value of the callback.
REDACTED = b"redacted"
CALLBACK_PATH = "/callback"


def redacted_query(query: bytes) -> bytes:
    """``code=abc&state=xyz`` → ``code=redacted&state=redacted``: names kept in order, every value (and any
    part that is not a ``name=value`` pair) replaced."""
    parts = (part.split(b"=", 1)[0] + b"=" + REDACTED if b"=" in part else REDACTED for part in query.split(b"&"))
    return b"&".join(parts)


class RedactCallbackQuery:
    """ASGI middleware: the callback's query reaches the plugin's app; the server's access log sees it redacted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        query = scope.get("query_string") if scope["type"] == "http" else None
        if not query or not str(scope.get("path", "")).endswith(CALLBACK_PATH):
            await self.app(scope, receive, send)
            return
        inner = dict(scope)  # the app (and what it writes into its scope) works on a copy with the real query
        scope["query_string"] = redacted_query(query)  # what the server's access log reads, during and after
        await self.app(inner, receive, send)


def install(app: Any) -> None:
    """Wrap ``app`` (the plugin's FastAPI app) in :class:`RedactCallbackQuery`."""
    app.add_middleware(RedactCallbackQuery)
