"""
Per-request overhead of OAuthConnectorHook.run against a raw requests.Session, on loopback.

Starts the real test authorization server (django-oauth-toolkit) and a minimal loopback HTTP server,
then times, interleaved in rounds, GET requests made by:
  raw            requests.Session with the bearer header preset (pays requests' netrc lookup)
  raw+auth       requests.Session with a static AuthBase (no netrc lookup: the requests floor)
(all three with the same 30 s per-request timeout)
  hook.run       OAuthConnectorHook.run (token cache, origin check, retry wrapper, 401 hook)
and prints medians and ratios, plus the token requests the server counted for 10 sequential run() calls.

    .venv/bin/python benchmarks/hook_overhead.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.store import MemoryTokenStore
from tests.support.authserver.runner import start_auth_server

TIMEOUT = 30.0  # the hook's default per-request timeout; a socket timeout costs a poll() per read


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # one write per response: no Nagle / delayed-ACK stalls
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _StaticBearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def _connection_env(conn_id: str, server, host: str) -> None:
    client = server.client("cc")
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
        {
            "conn_type": "oauth_connector",
            "host": host,
            "login": client.client_id,
            "password": client.client_secret,
            "extra": {"access_url": server.token_url, "scope": "read"},
        }
    )


def _time_rounds(callers: dict[str, Callable[[], object]], total: int, rounds: int = 10) -> dict[str, float]:
    per_round = max(1, total // rounds)
    samples: dict[str, list[float]] = {name: [] for name in callers}
    for call in callers.values():  # warm up connections and caches
        for _ in range(20):
            call()
    for _ in range(rounds):
        for name, call in callers.items():
            started = time.perf_counter()
            for _ in range(per_round):
                call()
            samples[name].append((time.perf_counter() - started) / per_round)
    return {name: statistics.median(values) for name, values in samples.items()}


def _report(title: str, medians: dict[str, float]) -> None:
    floor = medians["raw+auth"]
    print(f"\n{title}")
    for name, value in medians.items():
        print(f"  {name:<10} {value * 1e6:9.1f} us/request   ratio vs raw+auth {value / floor:5.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per client and target")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = start_auth_server(Path(tmp))
        plain = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
        threading.Thread(target=plain.serve_forever, daemon=True).start()
        plain_base = f"http://127.0.0.1:{plain.server_address[1]}"
        try:
            _connection_env("bench_api", server, server.api_base)
            _connection_env("bench_plain", server, plain_base)

            server.reset_stats()
            hook = OAuthConnectorHook("bench_api", token_store=MemoryTokenStore())
            for _ in range(10):
                hook.run("whoami")
            counted = server.stats()["token_requests"]["total"]
            print(f"token requests for 10 sequential run() calls (counted by the server): {counted}")

            token = hook.get_access_token()
            for title, base, path, conn_id in (
                ("minimal loopback HTTP server (isolates client-side cost)", plain_base, "ok", "bench_plain"),
                (
                    "real protected API (django-oauth-toolkit validates each token)",
                    server.api_base,
                    "whoami",
                    "bench_api",
                ),
            ):
                raw = requests.Session()
                raw.headers["Authorization"] = f"Bearer {token}"
                floor = requests.Session()
                floor.auth = _StaticBearer(token)
                bench_hook = OAuthConnectorHook(conn_id, token_store=MemoryTokenStore())
                url = f"{base}/{path}"
                count = args.requests if path == "ok" else max(200, args.requests // 5)
                medians = _time_rounds(
                    {
                        "raw": lambda raw=raw, url=url: raw.get(url, timeout=TIMEOUT).raise_for_status(),
                        "raw+auth": lambda floor=floor, url=url: floor.get(url, timeout=TIMEOUT).raise_for_status(),
                        "hook.run": lambda h=bench_hook, p=path: h.run(p),
                    },
                    count,
                )
                _report(f"{title}, {count} requests each", medians)
        finally:
            plain.shutdown()
            server.stop()


if __name__ == "__main__":
    main()
