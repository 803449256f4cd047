"""
Many workers on many hosts: token requests and fault drills on the CeleryExecutor, workers as separate hosts.

Starts the lab of ``tests/support/celery_drills.py`` (Airflow 3 with the CeleryExecutor, PostgreSQL metadata DB,
two Celery workers each in its own network namespace with its own AIRFLOW_HOME; the token store's Redis with
an ACL user, TLS and AOF; the test authorization server with rotation and reuse detection) and prints, side by
side, the figures of each scenario, all counted by the authorization server:

* ``cc_redis`` / ``cc_file``: 50 parallel client-credentials tasks: token requests (1 with Redis; one per
  host with the file store).
* ``rotating_redis`` / ``rotating_default``: 50 tasks that each force a rotating refresh, Redis store / no
  store configured: ``invalid_grant`` answers and revoked grants (0 and 0).
* ``kill_grace`` / ``kill_no_grace``: SIGKILL of the task process holding the refresh lock after the server
  rotated the grant: refresh requests after the kill, tasks recovered, time to fail fast.
* ``store_restart``, ``store_cut``, ``token_endpoint_down``: the store's Redis restarted mid-run, one worker
  cut off from it, the token endpoint down for 30 s.

    .venv/bin/python benchmarks/celery_hosts.py [--tasks 50] [--only cc_redis,kill_grace,...] [--json]

Needs root (ip netns), redis-server with TLS, PostgreSQL on 127.0.0.1:5432 and the test extra installed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import celery_drills  # noqa: E402


def scenarios(tasks: int) -> dict[str, Callable[[celery_drills.Lab], dict[str, Any]]]:
    return {
        "cc_redis": lambda lab: celery_drills.one_token(lab, "redis", tasks=tasks),
        "cc_file": lambda lab: celery_drills.one_token(lab, "file", tasks=tasks),
        "rotating_redis": lambda lab: celery_drills.rotating(lab, tasks=tasks, store_backend="redis"),
        "rotating_default": lambda lab: celery_drills.rotating(lab, tasks=tasks, store_backend=None),
        **{name: drill for name, drill in celery_drills.DRILLS.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=50, help="parallel tasks of the token-count scenarios")
    parser.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    reason = celery_drills.lab_unavailable()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    chosen = scenarios(args.tasks)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(names) - set(chosen))
        if unknown:
            parser.error(f"unknown scenarios {unknown}; known: {sorted(chosen)}")
        chosen = {n: chosen[n] for n in names}
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="celery-hosts-") as tmp:
        t0 = time.monotonic()
        lab = celery_drills.start_lab(Path(tmp))
        figures["lab_start_seconds"] = round(time.monotonic() - t0, 1)
        try:
            for name, scenario in chosen.items():
                try:
                    figures[name] = scenario(lab)
                except Exception as exc:  # keep measuring the others; say what failed
                    figures[name] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
                if not args.json:
                    print(f"{name:22s} {json.dumps(figures[name], sort_keys=True)}", flush=True)
        finally:
            lab.stop()
    if args.json:
        print(json.dumps(figures, indent=2, sort_keys=True))
    else:
        print(f"{'lab_start_seconds':22s} {figures['lab_start_seconds']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
