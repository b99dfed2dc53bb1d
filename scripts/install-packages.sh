#!/usr/bin/env bash
# Installs the npm packages of the checkout in $1 (default: here) only when they may have changed: a stamp
# in node_modules/.install-stamp keeps the Node version and the hash of package-lock.json of the last
# install. `npm ci` takes half a minute and replaces node_modules, which a running local instance is using;
# a start with nothing changed leaves it alone.
set -euo pipefail
cd "${1:-.}"
if [ ! -f package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
  exit 0
fi
want="node $(node --version) lock $(sha256sum package-lock.json | cut -d' ' -f1)"
stamp=node_modules/.install-stamp
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: npm packages up to date (package-lock.json unchanged since the last install)"
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
