"""
Shared helpers of the benchmarks: a minimal loopback HTTP server, a static bearer AuthBase, connections
defined through ``AIRFLOW_CONN_*`` environment variables, and interleaved timing rounds with medians.

Everything listens on 127.0.0.1 only. Importing this module puts the repository root on ``sys.path`` so
that ``airflow_oauth_connector`` and ``tests.support`` import from the checkout.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

TIMEOUT = 30.0  # the hook's default per-request timeout; a socket timeout costs a poll() per read


class OkHandler(BaseHTTPRequestHandler):
    """Answers every GET with a small JSON body: HTTP/1.1 keep-alive, Nagle off, one write per response."""

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


@contextmanager
def plain_server() -> Iterator[str]:
    """A minimal loopback HTTP server (isolates client-side cost); yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), OkHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class StaticBearer(requests.auth.AuthBase):
    """A fixed bearer token. Setting any ``auth`` also spares requests its per-request netrc lookup."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def connection_env(conn_id: str, server: Any, host: str, **extra: Any) -> None:
    """Define ``conn_id`` (client credentials, client ``cc`` of the test server) as ``AIRFLOW_CONN_*`` JSON."""
    from tests.support.connections import connection

    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(connection(server, host=host, scope="read", **extra))


def time_rounds(
    callers: Mapping[str, Callable[[], object]],
    total: int,
    rounds: int = 10,
    *,
    warmup: int = 20,
    rotate: bool = False,
    cpu: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """
    Seconds per call of each caller (wall clock), one sample per round (``total // rounds`` calls each).

    Callers take turns within every round (interleaved), so a burst of load on the machine hits all of them
    alike; with ``rotate`` the order shifts by one each round, so none always runs first. ``cpu``, if given,
    receives the same samples measured as the calling thread's CPU time (``time.thread_time``): the
    client-side cost alone, which waiting for a busy machine or a server thread does not inflate.
    """
    per_round = max(1, total // rounds)
    names = list(callers)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for call in callers.values():  # warm up connections and caches
        for _ in range(warmup):
            call()
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)] if rotate else names
        for name in order:
            call = callers[name]
            started, started_cpu = time.perf_counter(), time.thread_time()
            for _ in range(per_round):
                call()
            samples[name].append((time.perf_counter() - started) / per_round)
            if cpu is not None:
                cpu.setdefault(name, []).append((time.thread_time() - started_cpu) / per_round)
    return samples


def medians(samples: Mapping[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(values) for name, values in samples.items()}


def paired_ratio(samples: Mapping[str, list[float]], name: str, floor: str) -> tuple[float, float, float]:
    """Median, 25th and 75th percentile of ``name``/``floor`` per round (same-round pairs cancel drift)."""
    ratios = sorted(a / b for a, b in zip(samples[name], samples[floor], strict=True))
    if len(ratios) < 4:
        return statistics.median(ratios), ratios[0], ratios[-1]
    q1, q2, q3 = statistics.quantiles(ratios, n=4)
    return q2, q1, q3


def load_average() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:  # pragma: no cover - not on Linux
        return "n/a"
    return f"{one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


@contextmanager
def quiet_output() -> Iterator[None]:
    """
    Send file descriptors 1 and 2 to /dev/null: log lines are still formatted and written (their cost stays
    in the measurement, as with a task log file), but they do not flood the terminal.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
