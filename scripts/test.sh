#!/usr/bin/env bash
# One command: install what is missing (including the independent test clients), build, run every test.
# Through nx: every project's build, lint (module boundaries) and test targets, then the end-to-end suites
# (@mail/e2e), one task at a time as node ran the test files before (two cores; the end-to-end suites start
# nats-server and the services as processes). Arguments go to `nx run-many`, e.g. --projects=@mail/pop3-access.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test-tools
export NX_DAEMON=false NX_NO_CLOUD=true
# Each test task writes its counts here; the total is printed at the end, as one `node --test` run printed it.
export MAIL_TEST_SUMMARY_DIR="$PWD/tmp/test-summary"
rm -rf "$MAIL_TEST_SUMMARY_DIR"
status=0
node_modules/.bin/nx run-many -t build lint test e2e --parallel=1 --outputStyle=stream-without-prefixes "$@" || status=$?
node scripts/test-summary.mjs "$MAIL_TEST_SUMMARY_DIR"
exit "$status"
