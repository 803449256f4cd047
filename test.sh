#!/usr/bin/env bash
# Run the whole test suite (unit + integration against real servers started on loopback).
# First use creates ./.venv with everything needed. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
exec "$VENV/bin/python" -m pytest "$@"
