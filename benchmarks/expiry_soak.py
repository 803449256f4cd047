"""
Soak test with short-lived tokens: many threads call the API for a while; does any request fail?

Starts a second instance of the real test authorization server with ``--lifetime`` (default 5) second
access tokens, then for each leeway setting in ``--leeways`` (default ``1,default``), one after the other:
``--threads`` threads (default 4), each with its own OAuthConnectorHook on the same connection (tokens in the
shared in-process memory store, AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE=memory), call ``hook.run("whoami")``
in a loop for ``--seconds`` (default 120). Printed per setting:

  calls made by the threads, and how many failed (a 401 that reached the caller as ApiResponseError, any
  other exception), and how many succeeded only after the hook's refresh-and-replay on a 401;
  the server's counts: API requests, API requests it answered 401 (``api_requests.unauthorized``), token
  requests; the mean time between token requests (how much of each token's lifetime was used);
  call latency: median, 99th percentile, maximum.

``expiry_leeway`` is the connection extra "refresh this many seconds before expiry" (default 60); ``default``
leaves it unset. The hook caps the leeway at half the token's lifetime, so with 5 s tokens the default
behaves as 2.5 s. ``uncapped`` also leaves it unset but, in this process and for that phase only, replaces
``Token.needs_refresh`` by the plain rule ``now + leeway >= expires_at`` (what the hook did before the cap)
to show what the cap saves. Log output during a phase goes to /dev/null.

    .venv/bin/python benchmarks/expiry_soak.py [--seconds 120] [--threads 4] [--leeways 1,default] [--lifetime 5]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ["AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE"] = "memory"

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import connection_env, load_average, quiet_output

from airflow_oauth_connector.exceptions import ApiResponseError
from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.token import Token
from tests.support.authserver.runner import AuthServer, start_auth_server


class _Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.replayed = 0
        self.unauthorized = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.first_error = ""
        self.latencies: list[float] = []

    def add(self, latency: float, *, replayed: bool = False, error: BaseException | None = None) -> None:
        with self.lock:
            self.calls += 1
            self.latencies.append(latency)
            self.replayed += replayed
            if isinstance(error, ApiResponseError) and error.http_status == 401:
                self.unauthorized += 1
            elif error is not None:
                self.errors[type(error).__name__] += 1
            if error is not None and not self.first_error:
                self.first_error = f"{type(error).__name__}: {error}"[:300]


def _worker(conn_id: str, barrier: threading.Barrier, deadline: list[float], tally: _Tally) -> None:
    hook = OAuthConnectorHook(conn_id)
    _ = hook.profile  # parse the connection before the clock starts
    barrier.wait()
    while time.monotonic() < deadline[0]:
        started = time.perf_counter()
        try:
            response = hook.run("whoami")
        except Exception as exc:
            tally.add(time.perf_counter() - started, error=exc)
        else:
            replayed = any(r.status_code == 401 for r in response.history)
            tally.add(time.perf_counter() - started, replayed=replayed)


def _uncapped_needs_refresh(self: Token, now: float, leeway: float) -> bool:
    return self.expires_at is not None and now + leeway >= self.expires_at


@contextlib.contextmanager
def _uncapped(active: bool) -> Iterator[None]:
    original = Token.needs_refresh
    if active:
        Token.needs_refresh = _uncapped_needs_refresh  # type: ignore[method-assign]
    try:
        yield
    finally:
        Token.needs_refresh = original  # type: ignore[method-assign]


def _phase(server: AuthServer, label: str, leeway: float | None, args: argparse.Namespace) -> dict[str, Any]:
    conn_id = f"soak_leeway_{label.replace('.', '_')}"
    connection_env(conn_id, server, server.api_base, **({} if leeway is None else {"expiry_leeway": leeway}))
    server.reset_stats()
    tally = _Tally()
    deadline = [0.0]
    barrier = threading.Barrier(args.threads + 1)
    threads = [
        threading.Thread(target=_worker, args=(conn_id, barrier, deadline, tally), daemon=True)
        for _ in range(args.threads)
    ]
    with quiet_output(), _uncapped(label == "uncapped"):
        for thread in threads:
            thread.start()
        deadline[0] = time.monotonic() + args.seconds
        started = time.monotonic()
        barrier.wait()
        for thread in threads:
            thread.join(timeout=args.seconds + 120)
        elapsed = time.monotonic() - started
    return {"tally": tally, "stats": server.stats(), "elapsed": elapsed}


def _print(label: str, leeway: float | None, result: dict[str, Any], lifetime: int) -> bool:
    uncapped = label == "uncapped"
    tally: _Tally = result["tally"]
    stats, elapsed = result["stats"], result["elapsed"]
    api, tokens = stats["api_requests"], stats["token_requests"]
    failures = tally.unauthorized + sum(tally.errors.values())
    effective = 60.0 if uncapped else lifetime / 2 if leeway is None else min(leeway, lifetime / 2)
    expected = elapsed / (lifetime - effective) if effective < lifetime else float("nan")
    latencies = sorted(tally.latencies) or [0.0]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    setting = (
        "unset (default 60 s) with the cap removed (old rule)"
        if uncapped
        else "unset (default 60 s, capped at lifetime/2)"
        if leeway is None
        else f"{leeway:g} s"
    )
    print(f"\nexpiry_leeway {setting}: ran {elapsed:.1f} s")
    print(
        f"  caller: {tally.calls} calls, {tally.calls - failures} ok, {failures} failed"
        f" (401 reaching the caller: {tally.unauthorized}; other errors: {dict(tally.errors) or 0}),"
        f" {tally.replayed} ok only after refresh-and-replay on a 401"
    )
    print(
        f"  server: {api['total']} API requests, {api['unauthorized']} answered 401;"
        f" {tokens['total']} token requests ({tokens['errors']} errors), one per"
        + (
            f" {elapsed / max(tokens['total'], 1):.3f} s (leeway {effective:g} s >= lifetime {lifetime} s:"
            " every call renews)"
            if effective >= lifetime
            else f" {elapsed / max(tokens['total'], 1):.2f} s (expected ~{expected:.0f}: one per"
            f" {lifetime - effective:.2f} s = lifetime {lifetime} s - leeway {effective:g} s)"
        )
        + ";"
        f" {1000 * tokens['total'] / max(api['total'], 1):.1f} per 1000 API requests"
    )
    print(
        f"  latency: median {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms,"
        f" max {latencies[-1] * 1000:.1f} ms; {tally.calls / elapsed:.0f} calls/s"
    )
    if tally.first_error:
        print(f"  first error: {tally.first_error}")
    return failures == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="duration of each leeway setting")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--lifetime", type=int, default=5, help="access token lifetime of the server (s)")
    parser.add_argument(
        "--leeways",
        default="1,default",
        help="comma-separated expiry_leeway values; 'default' leaves it unset; 'uncapped': unset, cap removed",
    )
    args = parser.parse_args()
    leeways = [
        (item, None if item in ("default", "uncapped") else float(item)) for item in args.leeways.split(",") if item
    ]

    print(f"load average at start: {load_average()}")
    print(
        f"{args.threads} threads x hook.run('whoami') for {args.seconds:g} s per setting;"
        f" access tokens live {args.lifetime} s"
    )
    all_ok = True
    with tempfile.TemporaryDirectory() as tmp:
        server = start_auth_server(Path(tmp), access_token_lifetime=args.lifetime, timeout=180)
        try:
            for label, leeway in leeways:
                result = _phase(server, label, leeway, args)
                all_ok = _print(label, leeway, result, args.lifetime) and all_ok
        finally:
            server.stop()
    print(f"\ngoal 0 failures: {'met' if all_ok else 'NOT MET'}")
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
