"""
Token requests per token-store backend when many processes need a token at the same moment.

Starts the test authorization server (django-oauth-toolkit) on loopback, then for each backend runs
``--processes`` worker processes (forked from one launcher, as Airflow's forking executors do) that each build
their own store and ``OAuthConnectorHook`` and make ``--calls`` API calls. Prints, per backend, the token
requests the server received next to the naive figure (one token per process, each process keeping its
token in memory).

    .venv/bin/python benchmarks/token_store_concurrency.py [--processes 50] [--calls 20] [--redis-url URL]

The Variables backend is not measured: it needs real task processes with an Airflow metadata DB, and it
makes no cross-process promise (see ``VariableTokenStore``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.authserver.runner import start_auth_server  # noqa: E402
from tests.support.connections import connection, connection_env  # noqa: E402
from tests.support.store_worker import run_launcher  # noqa: E402


def _redis_available(url: str) -> str | None:
    try:
        import redis
    except ImportError:
        return "the 'redis' package is not installed"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"no Redis at {url} ({type(exc).__name__})"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="token-store-bench-"))
    server = start_auth_server(work / "authserver", threads=64)
    prefix = f"oauth_connector_bench:{uuid.uuid4().hex[:12]}:"
    try:
        env = connection_env("bench_api", connection(server))
        backends: list[tuple[str, dict[str, Any]]] = [
            ("memory (naive: one store per process)", {"backend": "memory"}),
            ("file", {"backend": "file", "directory": str(work / "tokens")}),
        ]
        skip = _redis_available(args.redis_url)
        if skip is None:
            backends.append(("redis", {"backend": "redis", "url": args.redis_url, "prefix": prefix}))
        print(f"{args.processes} processes x {args.calls} API calls each, all released at once")
        print(f"{'backend':40} {'token requests':>15} {'naive':>7} {'API calls':>10} {'errors':>7} {'seconds':>8}")
        for label, spec in backends:
            server.reset_stats()
            started = time.monotonic()
            results = run_launcher(
                {
                    "mode": "calls",
                    "conn_id": "bench_api",
                    "store": spec,
                    "processes": args.processes,
                    "count": args.calls,
                },
                env,
                timeout=600,
            )
            elapsed = time.monotonic() - started
            stats = server.stats()
            errors = sum(len(r["errors"]) for r in results)
            print(
                f"{label:40} {stats['token_requests']['total']:>15} {args.processes:>7} "
                f"{stats['api_requests']['total']:>10} {errors:>7} {elapsed:>8.1f}"
            )
        if skip is not None:
            print(f"redis: skipped ({skip})")
    finally:
        server.stop()
        if _redis_available(args.redis_url) is None:
            import redis

            client = redis.Redis.from_url(args.redis_url)
            keys = list(client.scan_iter(match=prefix + "*"))
            if keys:
                client.delete(*keys)


if __name__ == "__main__":
    main()
