#!/usr/bin/env bash
# One-command demo: a real OAuth 2.0 server + API on loopback, connections, example DAGs end-to-end.
# First use creates ./.venv with everything needed (only Python 3.10+ must be present).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
exec "$VENV/bin/python" scripts/demo.py "$@"
