#!/usr/bin/env bash
# One command: install what is missing (including the independent test clients), build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test-tools
exec node scripts/run-tests.mjs "$@"
