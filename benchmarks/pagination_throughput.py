"""
Records per second of a paginated read: OAuthConnectorOperator + OffsetPaginator vs a hand-written loop.

Starts the real test authorization server (django-oauth-toolkit) and reads ``--total`` records (default
5,000) from its protected API, ``/api/items?total=N&offset=&limit=`` (the server caps total at 100,000 and a
page at 1,000), in pages of ``--limit`` (default 50), with, interleaved in rounds (order rotating):

  operator          OAuthConnectorOperator(endpoint="items", pagination=OffsetPaginator(limit, records_path=
                    "items", total_path="total")).execute({}) -- defaults, so it logs one line per page
  operator/nolog    the same with log_response=False
  loop              hand-written: requests.Session, "Authorization: Bearer ..." in session.headers,
                    offset += limit until total; raise_for_status, .json(), records collected in a list
  loop+auth         the same loop with a static AuthBase instead of the header (spares requests' netrc
                    lookup per request: the requests floor)

Each run builds its own Session, as a task would (the operator's hook does); the token is already cached
(the connection's token store is the in-process memory store, AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE=memory,
so nothing is written to disk), and the loops use the same token. Every run checks it got all N records in
order. Log output during the timed runs goes to /dev/null (still formatted and written). The connection is
defined by an AIRFLOW_CONN_* environment variable.

    .venv/bin/python benchmarks/pagination_throughput.py [--total 5000] [--limit 50] [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE"] = "memory"

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    TIMEOUT,
    StaticBearer,
    connection_env,
    load_average,
    medians,
    paired_ratio,
    quiet_output,
    time_rounds,
)

from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.operators import OAuthConnectorOperator
from airflow_oauth_connector.pagination import OffsetPaginator
from tests.support.authserver.runner import start_auth_server

CONN_ID = "bench_pages"
MAX_TOTAL = 100_000  # tests/support/authserver/api.py
MAX_PAGE_SIZE = 1000


def _operator(total: int, limit: int, *, log_response: bool) -> Callable[[], list[Any]]:
    operator = OAuthConnectorOperator(
        task_id="read_items" if log_response else "read_items_nolog",
        oauth_conn_id=CONN_ID,
        endpoint="items",
        query_params={"total": total},
        pagination=OffsetPaginator(limit=limit, records_path="items", total_path="total"),
        log_response=log_response,
        deferrable=False,
    )
    return lambda: operator.execute({})  # type: ignore[arg-type]


def _loop(url: str, total: int, limit: int, token: str, *, auth: bool) -> Callable[[], list[Any]]:
    def read() -> list[Any]:
        with requests.Session() as session:
            if auth:
                session.auth = StaticBearer(token)
            else:
                session.headers["Authorization"] = f"Bearer {token}"
            records: list[Any] = []
            offset = 0
            while True:
                response = session.get(url, params={"total": total, "offset": offset, "limit": limit}, timeout=TIMEOUT)
                response.raise_for_status()
                body = response.json()
                items = body["items"]
                records.extend(items)
                offset += limit
                if not items or len(items) < limit or offset >= body["total"]:
                    return records

    return read


def _checked(read: Callable[[], list[Any]], total: int) -> Callable[[], None]:
    expected_last = {"id": total, "name": f"item-{total}"}

    def run() -> None:
        records = read()
        if len(records) != total or records[0]["id"] != 1 or records[-1] != expected_last:
            raise AssertionError(f"expected {total} records in order, got {len(records)}")

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total", type=int, default=5000, help=f"records to read (server maximum {MAX_TOTAL})")
    parser.add_argument("--limit", type=int, default=50, help=f"page size (server maximum {MAX_PAGE_SIZE})")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds, one run per client each")
    args = parser.parse_args()
    if not 0 < args.total <= MAX_TOTAL or not 0 < args.limit <= MAX_PAGE_SIZE:
        parser.error(f"--total must be 1..{MAX_TOTAL} and --limit 1..{MAX_PAGE_SIZE} (the test server's caps)")
    pages = -(-args.total // args.limit)

    print(f"load average at start: {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        server = start_auth_server(Path(tmp), timeout=180)
        try:
            connection_env(CONN_ID, server, server.api_base)
            url = f"{server.api_base}/items"
            with quiet_output():
                token = OAuthConnectorHook(CONN_ID).get_access_token()  # cached in the shared memory store
                callers = {
                    "operator": _checked(_operator(args.total, args.limit, log_response=True), args.total),
                    "operator/nolog": _checked(_operator(args.total, args.limit, log_response=False), args.total),
                    "loop": _checked(_loop(url, args.total, args.limit, token, auth=False), args.total),
                    "loop+auth": _checked(_loop(url, args.total, args.limit, token, auth=True), args.total),
                }
                server.reset_stats()
                samples = time_rounds(callers, args.rounds, args.rounds, warmup=1, rotate=True)
            stats = server.stats()
        finally:
            server.stop()

    runs = (args.rounds + 1) * len(callers)
    print(
        f"\nreading {args.total} records in {pages} pages of {args.limit} from the real protected API"
        f" (/api/items, offset/limit), {args.rounds} rounds + 1 warm-up run per client"
    )
    print(f"  {'client':<15} {'s/run':>7} {'records/s':>10}   per-round ratio of records/s: vs loop   vs loop+auth")
    middle = medians(samples)
    for name, seconds in middle.items():
        vs_loop = paired_ratio(samples, "loop", name)
        vs_floor = paired_ratio(samples, "loop+auth", name)
        print(
            f"  {name:<15} {seconds:7.3f} {args.total / seconds:10.0f}"
            f"   {vs_loop[0]:.3f} [{vs_loop[1]:.3f}, {vs_loop[2]:.3f}]"
            f"   {vs_floor[0]:.3f} [{vs_floor[1]:.3f}, {vs_floor[2]:.3f}]"
        )
    ratio = middle["loop"] / middle["operator"]
    print(
        f"\noperator throughput / hand-written loop (medians): {ratio:.3f}"
        f" (vs loop+auth: {middle['loop+auth'] / middle['operator']:.3f}) -- goal >= 0.9: "
        + ("met" if ratio >= 0.9 else "NOT MET")
    )
    api = stats["api_requests"]
    print(
        f"server: {api['total']} API requests ({runs} runs x {pages} pages = {runs * pages} expected),"
        f" {api['unauthorized']} answered 401; token requests: {stats['token_requests']['total']}"
    )
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
