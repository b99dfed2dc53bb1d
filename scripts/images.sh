#!/usr/bin/env bash
# Builds the platform's container images on this machine:
#   $IMAGE_PREFIX/<service>:$IMAGE_TAG for the five services, $IMAGE_PREFIX/nats:<version> and
#   $IMAGE_PREFIX/ferretdb:<version> (static Go builds, FROM scratch), all running as uid 1000.
# 1. A container engine: one that answers `docker info`, or (as root) Debian's docker.io, installed with
#    apt-get when missing, and dockerd started in the background on a socket of its own (see below).
# 2. The node 20 base: $NODE_BASE_IMAGE (default the public node:20-bookworm-slim) when it is there or can be
#    pulled; otherwise $IMAGE_PREFIX/node:20-bookworm-slim, this machine's Node and npm on a Debian 12 base
#    ($DEBIAN_BASE_IMAGE, else one made with debootstrap from the Debian mirror apt uses, docker import).
# 3. The workspace is built on the host (npm run build) and copied into a build context of its own,
#    .image-build/context (production node_modules, package.json files, dist folders without tests): no
#    registry access, credentials or npm configuration go into a build. The Dockerfiles' `prebuilt` stage
#    takes it from there; production builds (deploy/README.md) still build from sources in the Dockerfile.
# Layer caching makes a second run take seconds. Exit status 3: no engine answers and none can be started
# here (not root, or no docker.io to install); the image tests skip on it.
# Usage: scripts/images.sh [--engine-only | --probe]
#   --engine-only: only make sure an engine answers, print the DOCKER_HOST to use
#   --probe: the same without starting one (exit status 3 when none answers)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/go-builds.sh
PREFIX=${IMAGE_PREFIX:-mail-local}
TAG=${IMAGE_TAG:-dev}
NODE_BASE=${NODE_BASE_IMAGE:-node:20-bookworm-slim}
DEBIAN_BASE=${DEBIAN_BASE_IMAGE:-debian:bookworm-slim}
SERVICES=(mailbox-store queue-manager delivery-agent smtp-ingress pop3-access)
WORK=.image-build
say() { echo "images: $*" >&2; }
as_root() { [ "$(id -u)" -eq 0 ]; }

# --- 1. the engine -------------------------------------------------------------------------------------
# An engine this script starts listens on a socket of its own, $OWN_DOCKER_HOST, not /var/run/docker.sock:
# test suites of other checkouts probe the usual socket to choose their providers, and must not change
# behaviour because this one built images. Commands that use these images set DOCKER_HOST to it
# (`scripts/images.sh --engine-only` prints the DOCKER_HOST to use).
OWN_DOCKER_HOST=unix:///run/mail-images/docker.sock
engine_answers() { timeout 10 docker info >/dev/null 2>&1; }
apt_install() {
  say "installing $* with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if ! engine_answers; then
  export DOCKER_HOST=$OWN_DOCKER_HOST
  if ! engine_answers && [ "${1:-}" = "--probe" ]; then say "no container engine answers"; exit 3; fi
  if ! engine_answers; then
    if ! as_root; then say "no container engine answers and this is not root: cannot start one"; exit 3; fi
    if ! command -v dockerd >/dev/null 2>&1; then
      apt_install docker.io || { say "docker.io could not be installed"; exit 3; }
    fi
    say "starting dockerd on $DOCKER_HOST (log: /var/log/mail-dockerd.log)"
    mkdir -p /run/mail-images
    setsid dockerd --host "$DOCKER_HOST" --pidfile /run/mail-images/dockerd.pid >>/var/log/mail-dockerd.log 2>&1 </dev/null &
    for _ in $(seq 60); do engine_answers && break; sleep 1; done
    engine_answers || { say "dockerd did not answer within 60 s; see /var/log/mail-dockerd.log"; exit 3; }
  fi
fi
if [ "${1:-}" = "--engine-only" ] || [ "${1:-}" = "--probe" ]; then echo "DOCKER_HOST=${DOCKER_HOST:-}"; exit 0; fi

# BuildKit builds only the stages an image needs (the classic builder would run the from-sources stages
# too). A CLI with the buildx plugin uses it by itself; Debian's 20.10 client has it built in.
build() {
  if docker buildx version >/dev/null 2>&1; then docker build -q "$@"
  elif [ -x /usr/bin/docker ] && /usr/bin/docker version --format '{{.Client.Version}}' 2>/dev/null | grep -q '^20\.'; then DOCKER_BUILDKIT=1 /usr/bin/docker build -q "$@"
  else say "no BuildKit: install the docker buildx plugin"; return 1
  fi >/dev/null
}
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
# Docker Hub may be unreachable (a pull then fails or hangs): give it a minute.
have_or_pull() { have_image "$1" || timeout 60 docker pull -q "$1" >/dev/null 2>&1; }

# --- 2. the node 20 base -------------------------------------------------------------------------------
if ! have_or_pull "$NODE_BASE"; then
  if ! have_or_pull "$DEBIAN_BASE"; then
    DEBIAN_BASE=$PREFIX/debian:bookworm
    if ! have_image "$DEBIAN_BASE"; then
      command -v debootstrap >/dev/null 2>&1 || { as_root && apt_install debootstrap; } || { say "debootstrap is missing"; exit 1; }
      mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
        sed -nE 's#^(deb[[:space:]]+(\[[^]]*\][[:space:]]+)?|URIs:[[:space:]]*)(https?://[^[:space:]]+/debian)/?([[:space:]].*)?$#\3#p' | head -n 1 || true)
      [ -n "$mirror" ] || { say "no Debian mirror found in apt's sources"; exit 1; }
      say "making $DEBIAN_BASE with debootstrap from $mirror"
      root=$(mktemp -d)
      debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
      rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
      tar -C "$root" -c . | docker import - "$DEBIAN_BASE" >/dev/null
      rm -rf "$root"
    fi
  fi
  NODE_BASE=$PREFIX/node:20-bookworm-slim
  say "making $NODE_BASE from this machine's node $(node --version) on $DEBIAN_BASE"
  rm -rf "$WORK/node" && mkdir -p "$WORK/node"
  cp "$(command -v node)" "$WORK/node/node"
  npm_root=$(dirname "$(readlink -f "$(command -v npm)")")/..
  # npm's package without its own npmrc (global settings of this machine).
  cp -R "$npm_root" "$WORK/node/npm" && rm -f "$WORK/node/npm/npmrc"
  build --build-arg DEBIAN_IMAGE="$DEBIAN_BASE" -t "$NODE_BASE" -f deploy/images/node/Dockerfile "$WORK/node"
fi

# --- 3. the five services ------------------------------------------------------------------------------
say "building the workspace"
npm run build --silent
context=$WORK/context
workspace=$context/workspace
rm -rf "$context" && mkdir -p "$workspace"
cp package.json package-lock.json "$workspace/"
for pkg in libs/* apps/* tools/*; do
  mkdir -p "$workspace/$pkg" && cp "$pkg/package.json" "$workspace/$pkg/"
  # libs/testing (test support) and tools/* (checks) are never part of an image.
  if [ -d "$pkg/dist" ] && [ "$pkg" != libs/testing ] && [ "${pkg#tools/}" = "$pkg" ]; then cp -R "$pkg/dist" "$workspace/$pkg/"; fi
done
find "$workspace" -path '*/dist/*' \( -name '*.test.js' -o -name '*.test.js.map' -o -name '*.test.d.ts' -o -name '*.test-support.*' -o -path '*/dist/testing' -o -path '*/dist/testing/*' -o -name '*.tsbuildinfo' \) -delete
cp -R node_modules "$workspace/"
(cd "$workspace" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
rm -f "$workspace/node_modules/.install-stamp"
find "$workspace/node_modules" -mindepth 1 -maxdepth 1 -type d -empty -delete
# Nothing of npm's configuration (registry tokens live there) goes into a context.
find "$context" -name .npmrc -delete
for service in "${SERVICES[@]}"; do
  say "building $PREFIX/$service:$TAG"
  build --build-arg BASE_IMAGE="$NODE_BASE" --build-arg WORKSPACE=prebuilt -t "$PREFIX/$service:$TAG" -f "apps/$service/Dockerfile" "$context"
done

# --- 4. NATS and FerretDB ------------------------------------------------------------------------------
for server in nats:nats-server:$NATS_SERVER_VERSION:build_nats_server ferretdb:ferretdb:$FERRETDB_VERSION:build_ferretdb; do
  IFS=: read -r image binary version builder <<<"$server"
  dir=$WORK/$image
  if [ ! -x "$dir/$binary" ] || [ "$(cat "$dir/version" 2>/dev/null)" != "$version" ]; then
    say "building $binary $version (static)"
    rm -rf "$dir" && mkdir -p "$dir/data"
    "$builder" "$dir"
    echo "$version" >"$dir/version"
  fi
  say "building $PREFIX/$image:${version#v}"
  build -t "$PREFIX/$image:${version#v}" -f "deploy/images/$image/Dockerfile" "$dir"
done
say "done: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$PREFIX/*" | tr '\n' ' ')"
