# Sourced by test.sh and .ci/run: make sure ./.venv holds the package and its test tools.
# Uses uv when it can (fast), plain venv + pip otherwise. Re-installs when pyproject.toml changes.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
STAMP="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"

if [ ! -f "$STAMP" ]; then
  echo "bootstrap: installing airflow-oauth-connector[dev] into $VENV" >&2
  if ! command -v uv >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet --disable-pip-version-check uv >/dev/null 2>&1 || true
  fi
  if command -v uv >/dev/null 2>&1; then
    uv venv --quiet --allow-existing --python "$PYTHON" "$VENV"
    VIRTUAL_ENV="$VENV" uv pip install --quiet --compile-bytecode -e ".[dev]"
  else
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[dev]"
  fi
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi

# The native OAuth profiles page's bundle (npm + Vite; skipped quickly when its sources did not change).
# A failed build (e.g. no registry reachable) leaves the plugin on its classic page; the tests still run.
scripts/build_ui.sh || echo "bootstrap: the native OAuth profiles page was not built (see above)" >&2
