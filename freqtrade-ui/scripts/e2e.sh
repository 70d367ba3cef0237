#!/usr/bin/env bash
# End-to-end tests: build the dashboard, make sure Debian's Chromium is there (never a
# browser download), and run e2e/*.e2e.ts, which start a real backend on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM_PATH" ]; then
  echo "Chromium is missing: installing Debian's package" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
export CHROMIUM_PATH

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
[ -d node_modules ] || npm ci
[ "${E2E_SKIP_BUILD:-0}" = "1" ] || npm run build
mkdir -p screenshots
npx vitest run --config vitest.e2e.config.ts "$@"
