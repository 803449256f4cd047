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
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import TIMEOUT, StaticBearer, connection_env, medians, plain_server, time_rounds

from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.store import MemoryTokenStore
from tests.support.authserver.runner import start_auth_server


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
        server = start_auth_server(Path(tmp), timeout=180)
        try:
            with plain_server() as plain_base:
                connection_env("bench_api", server, server.api_base)
                connection_env("bench_plain", server, plain_base)

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
                    floor.auth = StaticBearer(token)
                    bench_hook = OAuthConnectorHook(conn_id, token_store=MemoryTokenStore())
                    url = f"{base}/{path}"
                    count = args.requests if path == "ok" else max(200, args.requests // 5)
                    samples = time_rounds(
                        {
                            "raw": lambda raw=raw, url=url: raw.get(url, timeout=TIMEOUT).raise_for_status(),
                            "raw+auth": lambda floor=floor, url=url: floor.get(url, timeout=TIMEOUT).raise_for_status(),
                            "hook.run": lambda h=bench_hook, p=path: h.run(p),
                        },
                        count,
                    )
                    _report(f"{title}, {count} requests each", medians(samples))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
