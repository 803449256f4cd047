#!/usr/bin/env bash
# Airflow 3.1 and 3.2 compatibility run (called by .ci/run; the full suite runs on 3.3 in the main venv).
# For each older minor line: a venv of its own with the latest patch release, then the unit tests,
# provider discovery, the Variables token store in a real task, one real dag.test() run of the example
# DAG against the test authorization server, and the native OAuth profiles page (react_apps) in a browser.
# Usage: scripts/compat.sh [LINE ...]   (default: 3.1 3.2). Venvs live in .compat/airflow-<line>.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
LINES=("$@")
[ ${#LINES[@]} -gt 0 ] || LINES=(3.1 3.2)
if ! command -v uv >/dev/null 2>&1; then "$PYTHON" -m pip install --quiet --disable-pip-version-check uv; fi
# The latest patch of each line, pinned: left to itself the resolver may settle on an older patch (it chose
# 3.1.0, whose logging breaks on structlog 26). Raise these when a line gets a new patch release.
declare -A LATEST=([3.1]=3.1.8 [3.2]=3.2.2)
for line in "${LINES[@]}"; do
  version="${LATEST[$line]:?no pinned patch release for Airflow $line in scripts/compat.sh}"
  venv=".compat/airflow-$line"
  stamp="$venv/.installed-$(cat pyproject.toml scripts/compat.sh | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "compat: installing apache-airflow==$version into $venv" >&2
    uv venv --quiet --allow-existing --python "$PYTHON" "$venv"
    # No constraints file is reachable here; keep the web stack at the releases Airflow 3.3 resolves to
    # (fastapi 0.137+ / cadwyn 8+ break 3.2's execution API: "TITerminalStatePayload needs a discriminator").
    VIRTUAL_ENV="$venv" uv pip install --quiet --compile-bytecode -e ".[test]" "apache-airflow==$version" \
      "fastapi<0.137" "cadwyn<8"
    rm -f "$venv"/.installed-*
    touch "$stamp"
  fi
  installed="$("$venv/bin/python" -c 'import airflow; print(airflow.__version__)')"
  echo "== Airflow $installed: unit tests, provider discovery, one real dag.test()" >&2
  timeout 900 "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    tests/unit tests/integration/test_provider_discovery.py tests/integration/store/test_variables.py \
    "tests/integration/test_example_dags.py::test_client_credentials_pagination_dag" \
    tests/integration/test_native_page.py tests/integration/test_connection_form.py \
    --deselect tests/integration/test_native_page.py::test_a_task_failing_with_invalid_client_shows_on_the_page_with_its_task_id
done
