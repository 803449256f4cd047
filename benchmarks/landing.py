"""
Landing data: peak memory of a large load, and records/s against dlt (filesystem jsonl; PostgreSQL merge).

Starts the real test authorization server (django-oauth-toolkit) and reads its protected records API,
``/api/records?total=N&pad=P&offset=&limit=`` (records of ~1 KB with ``pad=850``: id, name, amount,
active, updated_at, a list and a nested object, and the padding), in pages of 1,000.

1. Memory (each load in a fresh Python process; peak RSS = the child's ``ru_maxrss``):
   ``OAuthConnectorOperator(pagination=OffsetPaginator(1000), destination=ObjectStorageDestination("file://…"))``
   at 200,000 records minus the same at 10,000. Goal: < 60 MB.
2. Throughput, interleaved in rounds (order rotating), same API, same page size, same process:
   - ours into ``ObjectStorageDestination(file://…, format="jsonl")`` vs dlt's ``rest_api`` source (offset
     paginator, bearer token) into dlt's ``filesystem`` destination with ``loader_file_format="jsonl"``.
     Goal: ours >= 2 x dlt's records/s.
   - ours into ``SqlDestination(write="merge", primary_key=["id"])`` vs dlt's ``postgres`` destination with
     ``write_disposition="merge"``, ``primary_key="id"``: each round loads N records into a fresh schema,
     then merges N more of which half overlap (changed); both loads are timed. Goal: ours ≥ dlt.
   dlt runs with ``max_table_nesting=0`` (nested values as JSON, the same shape as ours, and less work for
   dlt than its default child tables); a fresh pipeline directory per run; telemetry off.

    .venv/bin/python benchmarks/landing.py [--total 50000] [--rounds 3] [--skip-memory] [--skip-postgres]

Needs the ``bench`` extra (dlt[postgres,filesystem]) and, for part 2b, PostgreSQL on 127.0.0.1:5432 (trust).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path
from typing import Any

os.environ["AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE"] = "memory"
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO_ROOT, connection_env, load_average, quiet_output

CONN_ID = "bench_land"
PG_CONN_ID = "bench_land_pg"
PAGE = 1000
PAD = 850


def context(run_id: str) -> dict[str, Any]:
    ti = types.SimpleNamespace(dag_id="bench", task_id="land", run_id=run_id, map_index=-1, try_number=1)
    return {"ti": ti}


def ours(destination: Any, total: int, *, start: int = 1, rev: int = 1) -> dict[str, Any]:
    from airflow_oauth_connector.operators import OAuthConnectorOperator
    from airflow_oauth_connector.pagination import OffsetPaginator

    op = OAuthConnectorOperator(
        task_id="land",
        oauth_conn_id=CONN_ID,
        endpoint="records",
        query_params={"total": total, "pad": PAD, "start": start, "rev": rev},
        pagination=OffsetPaginator(limit=PAGE, records_path="records", total_path="total", max_pages=None),
        destination=destination,
        log_response=False,
    )
    manifest = op.execute(context(uuid.uuid4().hex))
    assert manifest["records"] == total, manifest
    return manifest


# ------------------------------------------------------------------------------------------------ memory
def memory_child(total: int, folder: str) -> None:
    """Run in a fresh process: one load, then print the peak RSS (KiB)."""
    from airflow_oauth_connector.destinations import ObjectStorageDestination

    ours(ObjectStorageDestination(f"file://{folder}", format="jsonl"), total)
    print(json.dumps({"total": total, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def peak_rss_mb(total: int, env: dict[str, str]) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-land-mem-") as folder:
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(total), "--folder", folder],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["maxrss_kib"] / 1024


# ------------------------------------------------------------------------------------------------ dlt
def dlt_run(server: Any, destination: Any, total: int, *, start: int = 1, rev: int = 1, **resource: Any) -> int:
    import dlt
    import requests
    from dlt.sources.rest_api import rest_api_source

    client = server.client("cc")
    token = requests.post(
        server.token_url,
        data={"grant_type": "client_credentials", "scope": "read"},
        auth=(client.client_id, client.client_secret),
        timeout=30,
    ).json()["access_token"]
    source = rest_api_source(
        {
            "client": {
                "base_url": server.api_base + "/",
                "auth": {"type": "bearer", "token": token},
                "paginator": {
                    "type": "offset",
                    "limit": PAGE,
                    "offset_param": "offset",
                    "limit_param": "limit",
                    "total_path": "total",
                },
            },
            "resources": [
                {
                    "name": "records",
                    "endpoint": {
                        "path": "records",
                        "params": {"total": total, "pad": PAD, "start": start, "rev": rev},
                        "data_selector": "records",
                    },
                    **resource,
                }
            ],
        },
        max_table_nesting=0,
    )
    pipeline = destination["pipeline"]
    info = pipeline.run(source, **destination.get("run", {}))
    info.raise_on_failed_jobs()
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("records", 0)
    assert rows == total, (rows, total)
    del dlt
    return rows


def new_pipeline(name: str, destination: Any, dataset: str, pipelines_dir: str) -> Any:
    import dlt

    return dlt.pipeline(pipeline_name=name, destination=destination, dataset_name=dataset, pipelines_dir=pipelines_dir)


# ------------------------------------------------------------------------------------------------ rounds
def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def files_round(server: Any, total: int, work: Path, order: int) -> dict[str, float]:
    import dlt

    from airflow_oauth_connector.destinations import ObjectStorageDestination

    def run_ours() -> None:
        ours(ObjectStorageDestination(f"file://{work}/ours-{uuid.uuid4().hex}", format="jsonl"), total)

    def run_dlt() -> None:
        tag = uuid.uuid4().hex[:8]
        fs = dlt.destinations.filesystem(bucket_url=f"file://{work}/dlt-{tag}")
        pipeline = new_pipeline(f"files_{tag}", fs, "bench", str(work / f"pipelines-{tag}"))
        dlt_run(server, {"pipeline": pipeline, "run": {"loader_file_format": "jsonl"}}, total)

    runs = [("ours", run_ours), ("dlt", run_dlt)]
    if order % 2:
        runs.reverse()
    return {name: total / timed(fn) for name, fn in runs}


def postgres_round(server: Any, total: int, work: Path, order: int) -> dict[str, float]:
    import dlt

    from airflow_oauth_connector.destinations import SqlDestination
    from tests.support import postgres

    half = total // 2

    def run_ours() -> None:
        with postgres.scratch_schema("bench_ours") as (schema, _):
            dest = SqlDestination(PG_CONN_ID, f"{schema}.records", write="merge", primary_key=["id"])
            ours(dest, total)
            ours(dest, total, start=half + 1, rev=2)

    def run_dlt() -> None:
        with postgres.scratch_schema("bench_dlt") as (schema, conn):
            tag = uuid.uuid4().hex[:8]
            pg = dlt.destinations.postgres(credentials=postgres.pg_uri().replace("postgres@", "postgres:x@"))
            pipeline = new_pipeline(f"pg_{tag}", pg, schema, str(work / f"pipelines-{tag}"))
            spec = {"pipeline": pipeline}
            merge = {"primary_key": "id", "write_disposition": "merge"}
            try:
                dlt_run(server, spec, total, **merge)
                dlt_run(server, spec, total, start=half + 1, rev=2, **merge)
                (count,) = conn.execute(f'SELECT COUNT(*) FROM "{schema}".records').fetchone()
                assert count == total + half, count
            finally:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_staging" CASCADE')  # dlt's merge staging dataset

    runs = [("ours", run_ours), ("dlt", run_dlt)]
    if order % 2:
        runs.reverse()
    return {name: 2 * total / timed(fn) for name, fn in runs}


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total", type=int, default=50_000, help="records per throughput run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()

    from tests.support.authserver.runner import start_auth_server

    with tempfile.TemporaryDirectory(prefix="bench-landing-") as tmp:
        work = Path(tmp)
        if args.memory_child:
            memory_child(args.memory_child, args.folder)
            return
        server = start_auth_server(work / "authserver", timeout=180)
        try:
            connection_env(CONN_ID, server, server.api_base)
            from tests.support import postgres

            os.environ[f"AIRFLOW_CONN_{PG_CONN_ID.upper()}"] = postgres.pg_uri()
            print(f"load average at start: {load_average()}")
            if not args.skip_memory:
                env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
                small, large = peak_rss_mb(10_000, env), peak_rss_mb(200_000, env)
                delta = large - small
                print("\n1. Peak RSS, file:// jsonl, pages of 1,000, ~1 KB records (fresh process each)")
                print(f"   10,000 records: {small:.1f} MB   200,000 records: {large:.1f} MB")
                print(f"   difference: {delta:.1f} MB (goal < 60 MB: {'met' if delta < 60 else 'MISSED'})")
            pg_reason = None if not args.skip_postgres else "--skip-postgres"
            if pg_reason is None:
                pg_reason = postgres.unreachable()
            files: dict[str, list[float]] = {"ours": [], "dlt": []}
            sql: dict[str, list[float]] = {"ours": [], "dlt": []}
            with quiet_output():
                for _ in range(1):  # warm-up: imports, first token, dlt's first pipeline
                    files_round(server, PAGE * 2, work, 0)
                for r in range(args.rounds):
                    for k, v in files_round(server, args.total, work, r).items():
                        files[k].append(v)
                    if pg_reason is None:
                        for k, v in postgres_round(server, args.total, work, r).items():
                            sql[k].append(v)
            print(f"\n2. Throughput, {args.total:,} records of ~1 KB per run, pages of 1,000, {args.rounds} rounds")
            f_ours, f_dlt = median(files["ours"]), median(files["dlt"])
            print(f"   file:// jsonl   ours {f_ours:,.0f} rec/s   dlt filesystem {f_dlt:,.0f} rec/s")
            verdict = "met" if f_ours >= 2 * f_dlt else "MISSED"
            print(f"   ratio ours/dlt (files): {f_ours / f_dlt:.2f} (goal >= 2: {verdict})")
            if pg_reason is None:
                s_ours, s_dlt = median(sql["ours"]), median(sql["dlt"])
                print(f"   PostgreSQL merge ours {s_ours:,.0f} rec/s   dlt postgres {s_dlt:,.0f} rec/s")
                verdict = "met" if s_ours >= s_dlt else "MISSED"
                print(f"   ratio ours/dlt (postgres merge): {s_ours / s_dlt:.2f} (goal >= 1: {verdict})")
            else:
                print(f"   PostgreSQL merge: skipped ({pg_reason})")
            print(f"load average at end: {load_average()}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
