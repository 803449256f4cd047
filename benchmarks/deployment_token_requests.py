"""
Token requests per token-store backend in a REAL Airflow deployment (api-server, scheduler with the
LocalExecutor, dag-processor, triggerer, PostgreSQL metadata DB), counted by the authorization server.

Runs ``tests/dags/oauth_parallel_tasks.py`` (20 tasks, each in its own task process, each calling the API
``--calls`` times through its own hook) ``--rounds`` times per backend and prints, per round, the token requests
the server received, the run's wall time and how many tasks were running at once.

    .venv/bin/python benchmarks/deployment_token_requests.py [--rounds 2] [--calls 3] [--db postgres|sqlite]

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres) unless ``--db sqlite``; the Redis backend is
measured only if Redis answers on 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.airflow_deployment import postgres_available, start_deployment  # noqa: E402
from tests.support.authserver.runner import start_auth_server  # noqa: E402
from tests.support.connections import connection, connection_env  # noqa: E402

DAG_ID = "oauth_parallel_tasks"
TASKS = 20


def _redis_ok(url: str) -> bool:
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception:
        return False
    return True


def _overlap(results: list[dict[str, Any]]) -> int:
    events = sorted([(r["started"], 1) for r in results] + [(r["ended"], -1) for r in results])
    current = best = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    if args.db == "postgres" and (reason := postgres_available()):
        print(f"skipped: {reason}", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="deployment-bench-"))
    auth = start_auth_server(work / "authserver")
    backends = ["file", "memory"] + (["redis"] if _redis_ok(args.redis_url) else [])
    env: dict[str, str] = {}
    for backend in backends:
        env.update(connection_env(f"bench_{backend}", connection(auth, store_backend=backend)))
    env["AIRFLOW__OAUTH_CONNECTOR__REDIS_URL"] = args.redis_url
    env["AIRFLOW__OAUTH_CONNECTOR__REDIS_PREFIX"] = f"oauth_connector_bench_{secrets.token_hex(4)}:"
    t0 = time.monotonic()
    deployment = start_deployment(
        work / "airflow_home",
        dags_folders=[REPO / "tests" / "dags"],
        env=env,
        db=args.db,
        wait_for_dags=[DAG_ID],
    )
    print(f"deployment ({args.db}) up in {time.monotonic() - t0:.1f} s; {TASKS} tasks x {args.calls} calls per run")
    rows = []
    try:
        for backend in backends:
            for round_no in range(1, args.rounds + 1):
                auth.reset_stats()
                started = time.monotonic()
                run = deployment.run_dag(DAG_ID, conf={"conn_id": f"bench_{backend}", "calls": args.calls}, timeout=300)
                elapsed = time.monotonic() - started
                if run.state != "success":
                    print(deployment.describe_run(run), file=sys.stderr)
                    return 1
                stats = auth.stats()
                results = [deployment.xcom(run, f"call_{i:02d}") for i in range(TASKS)]
                rows.append((backend, round_no, stats["token_requests"]["total"], round(elapsed, 1), _overlap(results)))
                print(
                    f"{backend:>7} round {round_no}: token requests {rows[-1][2]:>3}   run {rows[-1][3]:>5.1f} s   "
                    f"tasks at once (max) {rows[-1][4]:>2}"
                )
    finally:
        deployment.stop()
        auth.stop()
    print("note: round 2+ of file/redis reuse the token stored by round 1 (0 requests while it is valid)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
