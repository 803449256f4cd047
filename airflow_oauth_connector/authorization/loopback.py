"""The loopback HTTP listener of a native-app authorization (RFC 8252): receives one redirect on 127.0.0.1."""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from airflow_oauth_connector.authorization.callback import query_params, safe_text
from airflow_oauth_connector.exceptions import AuthorizationError

CALLBACK_PATH = "/callback"

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>{title}</h1><p>{text}</p></body></html>"""


class CallbackListener:
    """One-shot loopback HTTP listener for ``/callback``; the first callback's query parameters win."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self._received = threading.Event()
        self._params: dict[str, str] | None = None
        self._guard = threading.Lock()
        try:
            self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        except OSError as exc:
            raise AuthorizationError(f"Cannot listen on {host}:{port} for the redirect: {exc.strerror}") from None
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.redirect_uri = f"http://{host}:{self.port}{CALLBACK_PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-callback", daemon=True)

    def accept(self, params: dict[str, str]) -> bool:
        """Keep ``params`` if they are the first callback's; ``False`` for any later one."""
        with self._guard:
            if self._params is not None:
                return False
            self._params = params
        self._received.set()
        return True

    def __enter__(self) -> CallbackListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait(self, timeout: float) -> dict[str, str] | None:
        """The callback's query parameters, or ``None`` after ``timeout`` seconds."""
        if not self._received.wait(timeout):
            return None
        return self._params


def _handler_for(listener: CallbackListener) -> type[BaseHTTPRequestHandler]:
    class Handler(_CallbackHandler):
        owner = listener

    return Handler


class _CallbackHandler(BaseHTTPRequestHandler):
    """Answers the browser; never echoes the code (nor logs the request line, which carries it)."""

    owner: CallbackListener
    timeout = 10  # drop idle (pre-)connections

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH:
            self._reply(404, "Not found", "This address only accepts the OAuth redirect.")
            return
        params = query_params(parts.query)
        if not self.owner.accept(params):
            self._reply(409, "Already handled", "This authorization was already received.")
        elif "error" in params:
            error = html.escape(safe_text(params["error"]))
            self._reply(200, "Authorization not granted", f"{error}. You can close this window.")
        else:
            self._reply(200, "Authorization received", "You can close this window and return to the terminal.")

    def _reply(self, status: int, title: str, text: str) -> None:
        body = _PAGE.format(title=title, text=text).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # the request line carries the code
        return
