"""
A fault-injecting reverse proxy for tests: sits on loopback in front of a real server and, following a
script, answers some requests with faults instead of forwarding them.

    proxy = FaultProxy(upstream="http://127.0.0.1:8000").start()
    proxy.inject("/o/token/", Fault.status(503), Fault.status(503))   # next two token requests get 503
    ...  # point the client at proxy.base_url; other requests pass through unchanged
    proxy.stop()

Faults: an HTTP status (with headers/body), a delay before forwarding (slower than a client timeout), a
connection reset, a truncated body, an HTML error page, a 200 without ``access_token``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0

    @staticmethod
    def status_code(status: int, body: bytes = b"injected fault", **headers: str) -> Fault:
        kind = "application/json" if body.startswith(b"{") else "text/plain"
        return Fault("status", status=status, headers={"Content-Type": kind, **headers}, body=body)

    @staticmethod
    def slow(seconds: float) -> Fault:
        """Forward the request, but only after ``seconds`` (the upstream still processes it)."""
        return Fault("slow", delay=seconds)

    @staticmethod
    def reset() -> Fault:
        return Fault("reset")

    @staticmethod
    def truncated() -> Fault:
        return Fault("status", status=200, headers={"Content-Type": "application/json"}, body=b'{"access_token": "ab')

    @staticmethod
    def html(status: int = 502) -> Fault:
        page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
        return Fault("status", status=status, headers={"Content-Type": "text/html"}, body=page)

    @staticmethod
    def no_access_token() -> Fault:
        return Fault(
            "status", status=200, headers={"Content-Type": "application/json"}, body=b'{"token_type": "Bearer"}'
        )


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._plans: dict[str, deque[Fault]] = defaultdict(deque)
        self._always: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._in_flight = 0
        self.seen: list[tuple[str, str, str]] = []  # (method, path, outcome)
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def inject(self, path_prefix: str, *faults: Fault) -> None:
        """The next requests whose path starts with ``path_prefix`` get these faults, in order."""
        with self._lock:
            self._plans[path_prefix].extend(faults)

    def always(self, path_prefix: str, fault: Fault | None) -> None:
        """Every request under ``path_prefix`` gets ``fault`` (``None`` removes it)."""
        with self._lock:
            if fault is None:
                self._always.pop(path_prefix, None)
            else:
                self._always[path_prefix] = fault

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()
            self._always.clear()
            self.seen.clear()

    def count(self, path_prefix: str, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for m, p, _ in self.seen if p.startswith(path_prefix) and (method is None or m == method))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no request is being handled (a slow one has been forwarded and answered); False on timeout."""
        with self._settled:
            return self._settled.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def _handling(self, delta: int) -> None:
        with self._settled:
            self._in_flight += delta
            self._settled.notify_all()

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for prefix, plan in self._plans.items():
                if path.startswith(prefix) and plan:
                    return plan.popleft()
            for prefix, fault in self._always.items():
                if path.startswith(prefix):
                    return fault
        return None

    def _record(self, method: str, path: str, outcome: str) -> None:
        with self._lock:
            self.seen.append((method, path, outcome))

    def start(self) -> FaultProxy:
        proxy = self
        upstream_session = requests.Session()
        upstream_session.trust_env = False

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 65536

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                proxy._handling(+1)
                try:
                    self._proxy()
                finally:
                    proxy._handling(-1)

            def _proxy(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                fault = proxy._next_fault(path)
                if fault is not None and fault.kind == "reset":
                    proxy._record(self.command, path, "reset")
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault is not None and fault.kind == "status":
                    proxy._record(self.command, path, f"status {fault.status}")
                    self._reply(fault.status, fault.headers, fault.body)
                    return
                proxy._record(self.command, path, "slow" if fault else "forwarded")
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.delay)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
                try:
                    upstream = upstream_session.request(
                        self.command,
                        proxy.upstream + self.path,
                        data=body,
                        headers=headers,
                        allow_redirects=False,
                        timeout=30,
                    )
                except requests.RequestException:
                    self._reply(502, {"Content-Type": "text/plain"}, b"upstream unreachable")
                    return
                out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up meanwhile
                    self._reply(upstream.status_code, out, upstream.content)

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
