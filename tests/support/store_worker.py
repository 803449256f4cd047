"""
A worker process for multi-process token-store tests: ``python -m tests.support.store_worker <json spec>``.

The spec is a JSON object::

    {"mode": "calls" | "renew" | "hold_lock" | "write_loop",
     "store": {"backend": "file", "directory": "..."} | {"backend": "redis", "url": "...", "prefix": "..."},
     "conn_id": "...",           # calls, renew: the connection comes from AIRFLOW_CONN_<ID>
     "key": "...",               # hold_lock, write_loop: a raw store key
     "count": 5, "processes": 20}

``calls`` and ``renew`` do the (slow) Airflow imports once, fork ``processes`` children that each build
their own store and hook, release them together and print one JSON line ``{"result": [per child]}``
(:func:`run_launcher` is the parent side). ``hold_lock`` prints ``locked`` once it holds the lock and then
sleeps until killed; ``write_loop`` prints ``writing`` and saves tokens in a loop until killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- parent side ---------------------------------------------------------------------------------------


def worker_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(extra or {})
    return env


def start_worker(spec: Mapping[str, Any], env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.store_worker", json.dumps(dict(spec))],
        cwd=str(REPO_ROOT),
        env=worker_env(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def stopped(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """Yield ``proc``; on the way out kill it if it still runs and reap it, so no test leaves a process behind."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def expect_line(proc: subprocess.Popen[str], wanted: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != wanted:
        proc.kill()
        rest = proc.stdout.read()
        raise RuntimeError(f"worker said {line!r} instead of {wanted!r}: {rest[-2000:]}")


def run_launcher(spec: Mapping[str, Any], env: Mapping[str, str] | None = None, timeout: float = 120.0) -> list[Any]:
    """Run a ``calls``/``renew`` spec (one launcher forking ``processes`` children); the children's results."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.store_worker", json.dumps(dict(spec))],
        cwd=str(REPO_ROOT),
        env=worker_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines or "result" not in lines[-1]:
        raise RuntimeError(f"launcher failed (exit {proc.returncode}): {proc.stdout[-3000:]} {proc.stderr[-3000:]}")
    results: list[Any] = lines[-1]["result"]
    crashes = [r["crash"] for r in results if "crash" in r]
    if crashes:
        raise RuntimeError(f"{len(crashes)} worker(s) crashed; first: {crashes[0]}")
    return results


# -- worker side ---------------------------------------------------------------------------------------


def make_store(spec: dict[str, Any]) -> Any:
    backend = spec["backend"]
    if backend == "file":
        from airflow_oauth_connector.store.file import FileTokenStore

        return FileTokenStore(spec["directory"], wait_timeout=float(spec.get("wait_timeout", 60)))
    if backend == "redis":
        from airflow_oauth_connector.store.redis import RedisTokenStore

        return RedisTokenStore(
            spec["url"],
            prefix=spec["prefix"],
            lock_timeout=float(spec.get("lock_timeout", 30)),
            wait_timeout=float(spec.get("wait_timeout", 60)),
        )
    if backend == "memory":
        from airflow_oauth_connector.store.memory import MemoryTokenStore

        return MemoryTokenStore()
    raise SystemExit(f"unknown backend {backend!r}")


class _Barrier:
    """Children report ready on one pipe and are released together through another (fork-safe)."""

    def __init__(self) -> None:
        self.ready_r, self.ready_w = os.pipe()
        self.go_r, self.go_w = os.pipe()

    def child_wait(self) -> None:
        os.write(self.ready_w, b"r")
        if os.read(self.go_r, 1) != b"g":
            os._exit(3)

    def release(self, n: int) -> None:
        got = 0
        while got < n:
            chunk = os.read(self.ready_r, n - got)
            if not chunk:
                raise RuntimeError("children went away")
            got += len(chunk)
        os.write(self.go_w, b"g" * n)


def run_forked(spec: dict[str, Any], body: Any) -> list[Any]:
    """
    Run ``body(spec, store, barrier)`` in ``spec["processes"]`` forked child processes; return their results.

    The (slow) Airflow imports happen once here, before forking, as in Airflow's own forking executors;
    each child then builds its own store object, hook and HTTP connections, so the children share nothing
    but the store's backing medium (the directory, the Redis server) and the authorization server.
    """
    import tempfile

    import airflow_oauth_connector.hooks  # warm imports for the children
    import airflow_oauth_connector.store  # noqa: F401

    if spec["store"]["backend"] == "redis":
        import redis  # noqa: F401 - 0.4 s per process otherwise

    n = int(spec.get("processes", 1))
    barrier = _Barrier()
    out_dir = Path(tempfile.mkdtemp(prefix="store-worker-"))
    pids = []
    for i in range(n):
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                result = body(spec, make_store(spec["store"]), barrier)
            except BaseException:
                result = {"crash": traceback.format_exc()}
                code = 1
            (out_dir / f"{i}.json").write_text(json.dumps(result))
            os._exit(code)
        pids.append(pid)
    barrier.release(n)
    for pid in pids:
        os.waitpid(pid, 0)
    results = []
    for i in range(n):
        path = out_dir / f"{i}.json"
        results.append(json.loads(path.read_text()) if path.exists() else {"crash": "no result"})
        path.unlink(missing_ok=True)
    out_dir.rmdir()
    return results


def run_calls(spec: dict[str, Any], store: Any, barrier: _Barrier) -> dict[str, Any]:
    """``count`` API calls through a hook; each needs a token."""
    from airflow_oauth_connector.hooks import OAuthConnectorHook

    hook = OAuthConnectorHook(spec["conn_id"], token_store=store)
    hook.profile  # noqa: B018 - parse the connection before the start signal
    barrier.child_wait()
    statuses = []
    errors = []
    for _ in range(int(spec["count"])):
        try:
            statuses.append(hook.run("whoami").status_code)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    return {"statuses": statuses, "errors": errors}


def run_renew(spec: dict[str, Any], store: Any, barrier: _Barrier) -> dict[str, Any]:
    """``count`` forced refreshes (rotating refresh tokens), each followed by one API call."""
    from airflow_oauth_connector.exceptions import InvalidGrantError
    from airflow_oauth_connector.hooks import OAuthConnectorHook

    hook = OAuthConnectorHook(spec["conn_id"], token_store=store)
    hook.profile  # noqa: B018
    barrier.child_wait()
    invalid_grant = 0
    errors = []
    statuses = []
    for _ in range(int(spec["count"])):
        try:
            hook.tokens.renew()
            statuses.append(hook.run("whoami").status_code)
        except InvalidGrantError:
            invalid_grant += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    return {"statuses": statuses, "invalid_grant": invalid_grant, "errors": errors}


def run_hold_lock(spec: dict[str, Any], store: Any) -> None:
    with store.lock(spec["key"]):
        print("locked", flush=True)
        if spec.get("write_inside"):
            from airflow_oauth_connector.token import Token

            store.save(spec["key"], Token(access_token="written-by-holder", expires_at=time.time() + 3600))
            print("written", flush=True)
        time.sleep(3600)


def run_write_loop(spec: dict[str, Any], store: Any) -> None:
    from airflow_oauth_connector.token import Token

    filler = "x" * int(spec.get("size", 200_000))
    print("writing", flush=True)
    n = 0
    while True:
        n += 1
        with store.lock(spec["key"]):
            store.save(spec["key"], Token(access_token=f"loop-{n}-{filler}", expires_at=time.time() + 3600))


def main() -> None:
    spec = json.loads(sys.argv[1])
    mode = spec["mode"]
    try:
        if mode in ("calls", "renew"):
            result: Any = run_forked(spec, run_calls if mode == "calls" else run_renew)
        elif mode == "hold_lock":
            store = make_store(spec["store"])
            run_hold_lock(spec, store)
            return
        elif mode == "write_loop":
            store = make_store(spec["store"])
            run_write_loop(spec, store)
            return
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    except Exception:
        print(json.dumps({"crash": traceback.format_exc()}), flush=True)
        raise SystemExit(1) from None
    print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    main()
