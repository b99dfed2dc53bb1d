#!/usr/bin/env bash
# Installs what the platform needs on a fresh Debian/Ubuntu machine with Node 20:
# nats-server (when missing), npm packages, and a build. With --test-tools, also the independent
# SMTP/POP3 clients the tests drive (swaks, mpop, fetchmail; Python 3 for smtplib/poplib) and
# Postfix's smtp-sink (a remote MX for the delivery tests), the TLS scanner sslyze and the DKIM tools dkimpy (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

# A current nats-server, built from the Go module proxy into .tools/ (the version deploy/ runs): Debian's
# 2.9.10 deadlocks on a full disk and does not give deleted storage back. Without Go, Debian's is used.
. scripts/go-builds.sh
if [ -z "${NATS_SERVER_BIN:-}" ] && ! { [ -x .tools/nats-server ] && .tools/nats-server --version | grep -q "${NATS_SERVER_VERSION#v}"; }; then
  if command -v go >/dev/null 2>&1; then
    echo "setup: building nats-server $NATS_SERVER_VERSION into .tools/nats-server"
    mkdir -p .tools
    build_nats_server .tools
  fi
fi

want=()
[ -x .tools/nats-server ] || command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || [ -n "${NATS_SERVER_BIN:-}" ] || want+=(nats-server)
if [ "${1:-}" = "--test-tools" ]; then
  command -v swaks >/dev/null 2>&1 || want+=(swaks)
  # swaks -tls (the README's submission example) needs Perl's Net::SSLeay, only a "Recommends" of swaks.
  perl -MNet::SSLeay -e 1 >/dev/null 2>&1 || want+=(libnet-ssleay-perl)
  command -v mpop >/dev/null 2>&1 || want+=(mpop)
  command -v fetchmail >/dev/null 2>&1 || want+=(fetchmail)
  [ -x /usr/sbin/smtp-sink ] || want+=(postfix)   # smtp-sink plays a remote MX in the delivery tests; a private Postfix, the DSN interop peer
  command -v python3 >/dev/null 2>&1 || want+=(python3)
  command -v promtool >/dev/null 2>&1 || want+=(prometheus)   # promtool checks the alert rules (tools/deploy-check)
  # A virtual environment for sslyze (below): Debian's python3 has venv's ensurepip only with python3-venv.
  [ -x .tools/sslyze/bin/sslyze ] || python3 -c 'import ensurepip' >/dev/null 2>&1 || want+=(python3-venv)
fi
if [ ${#want[@]} -gt 0 ]; then
  echo "setup: installing ${want[*]} with apt-get"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi

# FerretDB v1 (MongoDB wire protocol over SQLite) for the MongoDB tests, unless MONGODB_URI names a real
# server (scripts/go-builds.sh).
if [ "${1:-}" = "--test-tools" ] && [ ! -x .tools/ferretdb ] && [ -z "${MONGODB_URI:-}" ]; then
  if command -v go >/dev/null 2>&1; then
    echo "setup: building FerretDB $FERRETDB_VERSION into .tools/ferretdb"
    mkdir -p .tools
    build_ferretdb .tools
  else
    echo "setup: Go is not installed, so FerretDB cannot be built and the MongoDB tests will fail: install Go (1.21+) or set MONGODB_URI to a MongoDB server" >&2
  fi
fi

# Python test tools from PyPI, each in a virtual environment of its own under .tools/ (.installed says
# which packages): sslyze, the TLS scanner of e2e/tls-scan.test.ts, and dkimpy, the independent DKIM
# signer and verifier of e2e/dkim-signing.test.ts. Where one cannot be installed, its tests skip and say why.
python_tool() { # name, what skips without it, packages...
  local name=$1 purpose=$2
  shift 2
  [ "$(cat ".tools/$name/.installed" 2>/dev/null)" = "$*" ] && return 0
  echo "setup: installing $* into .tools/$name"
  rm -rf ".tools/$name"
  if python3 -m venv ".tools/$name" && ".tools/$name/bin/pip" install -q --disable-pip-version-check "$@"; then
    echo "$*" >".tools/$name/.installed"
  else
    rm -rf ".tools/$name"
    echo "setup: $name could not be installed; $purpose will be skipped" >&2
  fi
}
if [ "${1:-}" = "--test-tools" ]; then
  python_tool sslyze "the TLS scan test" "sslyze==6.3.1"
  python_tool dkimpy "the independent DKIM checks" "dkimpy==1.1.8" "pynacl==1.6.2"
fi

# kustomize renders deploy/k8s for tools/deploy-check: kubectl's built-in one when kubectl is there,
# else a standalone kustomize built into .tools/ (v5.8.1: v5.8.2+ need Go 1.27).
if [ "${1:-}" = "--test-tools" ] && ! kubectl kustomize --help >/dev/null 2>&1 && ! command -v kustomize >/dev/null 2>&1 && [ ! -x .tools/kustomize ]; then
  if command -v go >/dev/null 2>&1; then
    echo "setup: building kustomize v5.8.1 into .tools/kustomize"
    GOBIN="$PWD/.tools" go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.1
  else
    echo "setup: neither kubectl nor Go is installed, so the Kubernetes manifest checks will be skipped" >&2
  fi
fi

node -e 'const [major] = process.versions.node.split(".").map(Number); if (major < 20) { console.error("Node 20 or newer is needed, found " + process.version); process.exit(1); }'
bash scripts/install-packages.sh
npm run build --silent
# npm links a workspace's bin only if its target exists, and `npm ci` ran before the build made
# apps/mailctl/dist/main.js: link it now, or `npx mailctl` goes looking on the public registry.
npm rebuild @mail/mailctl --ignore-scripts --silent
