#!/usr/bin/env bash
# One command: install what is missing, build, and run the whole system locally (embedded store).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node scripts/local.mjs "$@"
