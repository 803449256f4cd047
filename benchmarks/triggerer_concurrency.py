"""
200 deferred calls in one triggerer event loop against a slow API: the async trigger vs the old to_thread design.

Starts the real test authorization server (django-oauth-toolkit: the token endpoint, which counts token
requests) and a loopback API that answers every request after ``--delay`` seconds (an asyncio server in a
process of its own: it holds any number of requests at once and records the most it held). Then, with the
provider's default token store (the file store, in a temporary folder) and no token yet:

  async     ``--calls`` OAuthConnectorTrigger objects, each rebuilt from its JSON-serialised arguments as
            the triggerer rebuilds them, their ``run()`` awaited concurrently in one asyncio loop of this
            one process -- as the triggerer runs its triggers. The trigger makes its call with httpx in the
            loop; a token is fetched once, in a worker thread, for all of them.
  to_thread the design the trigger had before: each ``run()`` sends the call through the same
            ``OAuthConnectorHook.run`` inside ``asyncio.to_thread``, i.e. on the loop's default executor
            (min(32, CPUs + 4) threads: 6 on a 2-CPU machine). Reimplemented inline here, with the same hook,
            ApiCall and event shape, to keep it runnable next to the new code.

"async/warm" repeats the async run in a new event loop with the token already in the store (the steady
state of a triggerer: no token request at all).

Printed per design: wall time for all calls (and this process's CPU time: on a busy machine the wall time
grows with the load, the CPU time much less), token requests counted by the server, the most API requests
in flight at once, events that were not successes; then the goal (async: all within 3 s, 1 token request).

    .venv/bin/python benchmarks/triggerer_concurrency.py [--calls 200] [--delay 1.0] [--skip-old]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests
from _common import load_average

from airflow_oauth_connector.calls import ApiCall
from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.pagination import PageRequest
from airflow_oauth_connector.store.factory import clear_store_cache
from airflow_oauth_connector.triggers import OAuthConnectorTrigger
from airflow_oauth_connector.triggers.oauth import response_to_event
from tests.support.authserver.runner import start_auth_server
from tests.support.connections import connection

CONN_ID = "bench_triggerer"


class SlowApi:
    """
    HTTP/1.1 on 127.0.0.1 in a process of its own (as an API is: it must not share the triggerer's CPU time
    or GIL): every request is answered after ``delay`` seconds; ``/__stats`` and ``/__reset`` for the counts.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.base = ""

    @contextmanager
    def serving(self) -> Iterator[str]:
        ports: multiprocessing.Queue[int] = multiprocessing.get_context("fork").Queue()
        process = multiprocessing.get_context("fork").Process(target=_serve_api, args=(self.delay, ports), daemon=True)
        process.start()
        try:
            self.base = f"http://127.0.0.1:{ports.get(timeout=30)}"
            yield self.base
        finally:
            process.terminate()
            process.join(10)

    def stats(self) -> dict[str, int]:
        return dict(requests.get(f"{self.base}/__stats", timeout=10).json())

    def reset(self) -> None:
        requests.get(f"{self.base}/__reset", timeout=10).raise_for_status()


def _serve_api(delay: float, ports: multiprocessing.Queue[int]) -> None:
    counts = {"requests": 0, "unauthorized": 0, "in_flight": 0, "most_in_flight": 0}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
                lines = head.split("\r\n")
                length = next((int(ln.split(":", 1)[1]) for ln in lines if ln.startswith("content-length:")), 0)
                await reader.readexactly(length)
                path = lines[0].split(" ")[1]
                if path.startswith("/__"):
                    if path == "/__reset":
                        counts.update(requests=0, unauthorized=0, most_in_flight=0)
                    status, body = "200 OK", json.dumps(counts).encode()
                else:
                    counts["requests"] += 1
                    authorized = "\r\nauthorization: bearer " in head
                    counts["unauthorized"] += not authorized
                    counts["in_flight"] += 1
                    counts["most_in_flight"] = max(counts["most_in_flight"], counts["in_flight"])
                    await asyncio.sleep(delay)
                    counts["in_flight"] -= 1
                    status = "200 OK" if authorized else "401 Unauthorized"
                    body = b'{"ok": true}' if authorized else b'{"error": "invalid_token"}'
                out = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                writer.write(out.encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=4096)
        ports.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def rebuilt_trigger() -> OAuthConnectorTrigger:
    """One page's trigger, serialised and rebuilt from JSON as the triggerer does."""
    made = OAuthConnectorTrigger(oauth_conn_id=CONN_ID, method="GET", request=PageRequest("ok").serialize())
    _, kwargs = made.serialize()
    return OAuthConnectorTrigger(**json.loads(json.dumps(kwargs)))


async def run_async(calls: int) -> list[dict[str, Any]]:
    async def fire(trigger: OAuthConnectorTrigger) -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return await asyncio.gather(*(fire(rebuilt_trigger()) for _ in range(calls)))


def old_call(trigger: OAuthConnectorTrigger) -> dict[str, Any]:
    """What the trigger's ``call`` did before (blocking; run in a thread by ``run``)."""
    hook = OAuthConnectorHook(trigger.oauth_conn_id, timeout=trigger.timeout, retry=trigger.retry)
    request = PageRequest.deserialize(trigger.request)
    call = ApiCall(trigger.method, trigger.json, trigger.data, trigger.headers, trigger.replayable)
    return {"status": "success", "response": response_to_event(call.send(hook, request))}


async def run_to_thread(calls: int) -> list[dict[str, Any]]:
    async def fire(trigger: OAuthConnectorTrigger) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(old_call, trigger)
        except Exception as exc:
            return {"status": "error", "error_type": type(exc).__name__}

    return await asyncio.gather(*(fire(rebuilt_trigger()) for _ in range(calls)))


def measure(
    label: str, runner: Callable[[int], Any], calls: int, api: SlowApi, server: Any, tokens: Path, *, cold: bool = True
) -> tuple[float, int, list[dict[str, Any]]]:
    if cold:
        shutil.rmtree(tokens, ignore_errors=True)  # no token yet: the first calls must obtain one
    clear_store_cache()
    server.reset_stats()
    api.reset()
    started, started_cpu = time.perf_counter(), time.process_time()
    events = asyncio.run(runner(calls))
    wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    token_requests = int(server.stats()["token_requests"]["total"])
    failed = sum(1 for e in events if e.get("status") != "success")
    counts = api.stats()
    print(
        f"  {label:<10} {wall:7.2f} s wall ({cpu:.2f} s CPU) for {calls} calls   token requests: {token_requests}   "
        f"most API requests in flight at once: {counts['most_in_flight']}   failed events: {failed}   "
        f"(API requests {counts['requests']}, without a token {counts['unauthorized']})"
    )
    return wall, token_requests, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="deferred calls (one trigger each)")
    parser.add_argument("--delay", type=float, default=1.0, help="seconds the API takes to answer")
    parser.add_argument("--skip-old", action="store_true", help="do not run the to_thread design")
    args = parser.parse_args()

    print(f"load average at start: {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        tokens = Path(tmp) / "tokens"
        os.environ["AIRFLOW__OAUTH_CONNECTOR__TOKEN_DIRECTORY"] = str(tokens)
        os.environ.pop("AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE", None)  # the default store: file
        server = start_auth_server(Path(tmp), timeout=180)
        api = SlowApi(args.delay)
        try:
            with api.serving() as base:
                os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
                    connection(server, host=base, scope="read", allow_insecure_http=True)
                )
                OAuthConnectorHook(CONN_ID).profile  # noqa: B018 - fail early on a bad connection
                executor_threads = min(32, (os.cpu_count() or 1) + 4)
                print(
                    f"\n{args.calls} deferred calls, one trigger each, one event loop; the API answers after "
                    f"{args.delay:g} s; default token store (file), no token at start; "
                    f"default executor: {executor_threads} threads"
                )
                wall, token_requests, _ = measure("async", run_async, args.calls, api, server, tokens)
                measure("async/warm", run_async, args.calls, api, server, tokens, cold=False)
                if not args.skip_old:
                    old_wall, _, _ = measure("to_thread", run_to_thread, args.calls, api, server, tokens)
                    print(f"  to_thread / async wall time: {old_wall / wall:.1f}x")
                met = wall <= 3.0 and token_requests == 1
                print(
                    f"\ngoal: {args.calls} calls within 3 s and 1 token request (async): "
                    + ("met" if met else f"NOT MET ({wall:.2f} s, {token_requests} token requests)")
                )
        finally:
            server.stop()
    print(f"\nload average at end: {load_average()}")


if __name__ == "__main__":
    main()
