"""
Refresh-token rotation under contention: N processes force M refreshes each on one authorization-code
connection, against the real server with rotation and reuse detection (a replayed refresh token gets
invalid_grant and revokes the grant). Prints invalid_grant count and refreshes per backend (goal: 0).

    .venv/bin/python benchmarks/rotation_race.py [--processes 20] [--refreshes 25]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.store.test_across_processes import _initial_refresh_token, conn_env  # noqa: E402
from tests.support.authserver.runner import start_auth_server  # noqa: E402
from tests.support.store_worker import run_launcher  # noqa: E402
from tests.support.stores import REDIS_URL  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=20)
    parser.add_argument("--refreshes", type=int, default=25, help="forced refreshes per process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_auth_server(Path(tmp) / "authserver")
        try:
            ac = {"grant_type": "authorization_code", "authorize_url": server.authorize_url}
            for backend in ("file", "redis"):
                spec = (
                    {"backend": "file", "directory": str(Path(tmp) / f"tokens-{backend}")}
                    if backend == "file"
                    else {"backend": "redis", "url": REDIS_URL, "prefix": f"bench-{uuid.uuid4().hex[:8]}:"}
                )
                env = conn_env(server, "race_ac", "ac", **ac)
                env = conn_env(
                    server, "race_ac", "ac", refresh_token=_initial_refresh_token(server, env, "race_ac"), **ac
                )
                server.reset_stats()
                started = time.monotonic()
                results = run_launcher(
                    {
                        "mode": "renew",
                        "conn_id": "race_ac",
                        "store": spec,
                        "processes": args.processes,
                        "count": args.refreshes,
                    },
                    env,
                    timeout=600,
                )
                elapsed = time.monotonic() - started
                invalid = sum(r["invalid_grant"] for r in results)
                errors = sum(len(r["errors"]) for r in results)
                refreshes = server.stats()["token_requests"]["by_grant_type"].get("refresh_token", 0)
                print(
                    f"{backend:<6} {args.processes} processes x {args.refreshes} forced refreshes: "
                    f"refresh requests {refreshes}, invalid_grant {invalid}, other errors {errors}, {elapsed:.1f} s"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
