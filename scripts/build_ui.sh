#!/usr/bin/env bash
# Build the native OAuth profiles page (ui/ -> airflow_oauth_connector/plugins/ui_dist/oauth-profiles.js).
# Fast when already built: the bundle carries a stamp of its sources' hash and is rebuilt only when they
# change (or with --force). Without npm it says so and leaves the plugin on its server-rendered fallback page.
# Called by scripts/bootstrap.sh (so by test.sh and .ci/run); run it by hand after editing ui/src.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIST=airflow_oauth_connector/plugins/ui_dist
STAMP="$DIST/.sources-sha256"
sources_hash() {
  (cd ui && find package.json package-lock.json vite.config.ts tsconfig.json src -type f -print0 | sort -z |
    xargs -0 sha256sum) | sha256sum | cut -c1-32
}
WANT="$(sources_hash)"
if [ "${1:-}" != "--force" ] && [ -s "$DIST/oauth-profiles.js" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "build_ui: npm not found: the native OAuth profiles page is not built (the plugin serves its classic page)" >&2
  exit 0
fi
started=$SECONDS
LOCK_HASH="$(sha256sum ui/package-lock.json | cut -c1-16)"
if [ "$(cat ui/node_modules/.lock-sha256 2>/dev/null)" != "$LOCK_HASH" ]; then
  echo "build_ui: npm ci (ui/)" >&2
  (cd ui && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$LOCK_HASH" > ui/node_modules/.lock-sha256
fi
echo "build_ui: building the native OAuth profiles page" >&2
(cd ui && npm run --silent build >&2)
echo "$WANT" > "$STAMP"
echo "build_ui: built $DIST/oauth-profiles.js in $((SECONDS - started)) s" >&2
