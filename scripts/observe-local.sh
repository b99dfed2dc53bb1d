#!/usr/bin/env bash
# Prometheus with the shipped alert rules, scraping the local run (scripts/start-local.sh) on this machine.
# Needs Debian's prometheus package (scripts/setup.sh --test-tools installs it); see scripts/observe-local.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v prometheus >/dev/null 2>&1 && [ -z "${PROMETHEUS_BIN:-}" ]; then
  echo "observe: prometheus is not installed: sudo apt-get install prometheus (or scripts/setup.sh --test-tools)" >&2
  exit 1
fi
exec node scripts/observe-local.mjs "$@"
