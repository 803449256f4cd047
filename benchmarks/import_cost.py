"""
Import cost of the provider's modules in fresh interpreters, over a baseline ``import airflow.sdk``.

Each sample is a new Python process (same interpreter as this script, AIRFLOW_HOME in a temporary folder)
that times ``import airflow.sdk`` (the baseline every task and DAG file pays anyway), then the import of one
target module on top of it, and reports both plus the number of modules the target added. Targets:

  airflow_oauth_connector.operators       OAuthConnectorOperator (what a DAG file imports)
  airflow.providers.http.operators.http   Airflow's HttpOperator, for comparison (needs
                                          apache-airflow-providers-http; skipped with a note if absent)
  airflow_oauth_connector.plugins         the Airflow plugin module (loaded by every Airflow component)
  airflow_oauth_connector.hooks           the hook alone

Samples are interleaved (one process per target per round, order rotating) and the medians printed. With
``--top`` a further ``-X importtime`` run per target lists the packages whose modules it adds cost most.

Bytecode: the children write and use .pyc files in the temporary folder (PYTHONPYCACHEPREFIX), compiled
by a warm-up run, as a deployment with compiled bytecode would. ``--as-installed`` measures the
environment as it is instead (with PYTHONDONTWRITEBYTECODE=1 and a venv installed without .pyc files,
every import compiles from source and the figures are several times larger).

    .venv/bin/python benchmarks/import_cost.py [--repeat 15] [--top 8]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO_ROOT, load_average

TARGETS = (
    "airflow_oauth_connector.operators",
    "airflow.providers.http.operators.http",
    "airflow_oauth_connector.plugins",
    "airflow_oauth_connector.hooks",
)

CHILD = """
import importlib, json, sys, time
started = time.perf_counter()
import airflow.sdk
baseline = time.perf_counter() - started
before = set(sys.modules)
started = time.perf_counter()
importlib.import_module(sys.argv[1])
added = time.perf_counter() - started
print(json.dumps({"baseline": baseline, "added": added, "modules": len(set(sys.modules) - before)}))
"""


def _env(home: str, *, bytecode: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["AIRFLOW_HOME"] = home
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    if bytecode:  # compiled once by the warm-up run, into the temporary folder (nothing left in the tree)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(home) / "pycache")
    return env


def _sample(target: str, env: dict[str, str]) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, target], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {target} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _heaviest(target: str, env: dict[str, str], top: int) -> list[tuple[float, str]]:
    """Import time (own, in ms) that ``target`` adds after airflow.sdk, summed per top-level package."""
    code = f"import airflow.sdk, sys; sys.stderr.write('--mark--\\n'); import {target}"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    per_package: dict[str, float] = {}
    for line in result.stderr.split("--mark--\n", 1)[-1].splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, _, name = line[len("import time:") :].split("|")
        if own.strip().isdigit():
            package = name.strip().split(".")[0]
            per_package[package] = per_package.get(package, 0.0) + int(own) / 1000
    return sorted(((ms, name) for name, ms in per_package.items()), reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15, help="fresh interpreters per target")
    parser.add_argument("--top", type=int, default=0, help="also list the N heaviest packages each target adds")
    parser.add_argument(
        "--as-installed",
        action="store_true",
        help="no bytecode cache: honour PYTHONDONTWRITEBYTECODE (every import compiles from source if the"
        " venv has no .pyc files, as uv installs by default)",
    )
    args = parser.parse_args()

    try:
        has_http = importlib.util.find_spec("airflow.providers.http") is not None
    except ModuleNotFoundError:
        has_http = False
    targets = [t for t in TARGETS if has_http or not t.startswith("airflow.providers.http")]
    if not has_http:
        print("note: apache-airflow-providers-http is not installed; HttpOperator left out")

    print(f"load average at start: {load_average()}")
    samples: dict[str, list[dict[str, float]]] = {t: [] for t in targets}
    with tempfile.TemporaryDirectory() as home:
        env = _env(home, bytecode=not args.as_installed)
        for target in targets:  # warm the OS file cache (and .pyc files) once
            _sample(target, env)
        for index in range(args.repeat):
            shift = index % len(targets)
            for target in targets[shift:] + targets[:shift]:
                samples[target].append(_sample(target, env))
        heaviest = {t: _heaviest(t, env, args.top) for t in targets} if args.top else {}

    baseline = statistics.median(s["baseline"] for values in samples.values() for s in values)
    mode = "sources compiled on every import (--as-installed)" if args.as_installed else "bytecode cached"
    print(f"\nfresh interpreters, {args.repeat} per target (interleaved), medians; {mode}")
    print(f"baseline `import airflow.sdk`: {baseline * 1000:.0f} ms")
    header = f"{'added ms':>9} {'q1-q3 ms':>13} {'x baseline':>10} {'modules':>8}"
    print(f"  {'module (imported after airflow.sdk)':<40} {header}")
    for target, values in samples.items():
        added = sorted(s["added"] * 1000 for s in values)
        q1, median, q3 = statistics.quantiles(added, n=4) if len(added) > 3 else (added[0], added[0], added[-1])
        modules = int(statistics.median(s["modules"] for s in values))
        print(
            f"  {target:<40} {median:9.1f} {f'{q1:.0f}-{q3:.0f}':>13} {median / (baseline * 1000):10.3f} {modules:8d}"
        )
        if heaviest.get(target):
            print(
                "      own import time by package (-X importtime): "
                + ", ".join(f"{name} {ms:.0f} ms" for ms, name in heaviest[target])
            )
    ops = statistics.median(s["added"] for s in samples["airflow_oauth_connector.operators"])
    if "airflow.providers.http.operators.http" in samples:
        http = statistics.median(s["added"] for s in samples["airflow.providers.http.operators.http"])
        print(f"\noperators module / HttpOperator module (added time): {ops / http:.2f}")
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
