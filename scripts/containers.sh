#!/usr/bin/env bash
# Runs the whole platform in containers on this machine, from the images scripts/images.sh builds, the way
# deploy/ runs it: NATS (deploy's nats.conf as one node, the example credentials of each service), FerretDB as the MongoDB
# (MAIL_STORE=mongo), the five services with deploy/k8s/base/config's env files, all as uid 1000 with a
# read-only root filesystem, a tmpfs on /tmp and no capabilities, on a Docker network of their own.
# SMTP, POP3 and the services' HTTP ports (metrics, health) are published on 127.0.0.1 only.
#   scripts/containers.sh up      start (or start again) and wait until every service is ready
#   scripts/containers.sh down    remove the containers, the network and, unless KEEP_DATA=1, the volumes
# Settings: MAIL_CONTAINERS (name of the network and prefix of containers and volumes, default mail),
# IMAGE_PREFIX/IMAGE_TAG (as for images.sh), SMTP_PORT 2525, POP3_PORT 1110, SMTP_HTTP_PORT 9101,
# QUEUE_HTTP_PORT 9102, DELIVERY_HTTP_PORT 9103, MAILBOX_HTTP_PORT 9104, POP3_HTTP_PORT 9105, and
# MAIL_EXTRA_ENV ("NAME=value ..." for every service). DOCKER_HOST as `scripts/images.sh --engine-only` prints.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/go-builds.sh
NAME=${MAIL_CONTAINERS:-mail}
PREFIX=${IMAGE_PREFIX:-mail-local}
TAG=${IMAGE_TAG:-dev}
CONFIG=deploy/k8s/base/config
# The example NATS credentials, a Secret per service that uses NATS (nats-<service>.example.env).
NATS_SECRETS=deploy/k8s/base/secrets
NATS_USERS=(smtp-ingress queue-manager delivery-agent mailbox-store)
SERVICES=(mailbox-store queue-manager delivery-agent smtp-ingress pop3-access)
declare -A HTTP=([smtp-ingress]=${SMTP_HTTP_PORT:-9101} [queue-manager]=${QUEUE_HTTP_PORT:-9102} [delivery-agent]=${DELIVERY_HTTP_PORT:-9103} [mailbox-store]=${MAILBOX_HTTP_PORT:-9104} [pop3-access]=${POP3_HTTP_PORT:-9105})
declare -A CONTAINER_HTTP=([smtp-ingress]=9101 [queue-manager]=9102 [delivery-agent]=9103 [mailbox-store]=9104 [pop3-access]=9105)
LOCKED_DOWN=(--user 1000:1000 --read-only --tmpfs /tmp:mode=1777 --cap-drop ALL --security-opt no-new-privileges --restart unless-stopped)
say() { echo "containers: $*" >&2; }

down() {
  docker rm -f "$NAME-nats" "$NAME-ferretdb" "${SERVICES[@]/#/$NAME-}" >/dev/null 2>&1 || true
  docker network rm "$NAME" >/dev/null 2>&1 || true
  if [ "${KEEP_DATA:-0}" != 1 ]; then docker volume rm "$NAME-nats" "$NAME-ferretdb" >/dev/null 2>&1 || true; fi
  rm -rf ".image-build/run-$NAME"
}

# gRPC between the services is mutual TLS as in deploy/ (common.env): a throwaway CA under .image-build and
# a certificate per service (CN and DNS name = the service, the identity its peers authorize) and one for
# mailctl, mounted where the manifests mount cert-manager's Secrets. Readable by uid 1000: test keys only.
grpc_certs() { # grpc_certs DIR
  local dir=$1 name
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -nodes -days 30 -subj "/CN=mail containers test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  for name in "${SERVICES[@]}" mailctl; do
    mkdir -p "$dir/$name"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -nodes -subj "/CN=$name" -keyout "$dir/$name/tls.key" -out "$dir/$name/tls.csr" 2>/dev/null
    openssl x509 -req -in "$dir/$name/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 30 -sha256 -out "$dir/$name/tls.crt" \
      -extfile <(printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$name") 2>/dev/null
    cp "$dir/ca.crt" "$dir/$name/ca.crt"
    rm "$dir/$name/tls.csr"
  done
  chmod -R a+rX "$dir"
}

ready() { # ready PORT: GET /readyz answers 200
  node -e 'require("http").get({ host: "127.0.0.1", port: process.argv[1], path: "/readyz", timeout: 2000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on("error", () => process.exit(1)).on("timeout", () => process.exit(1))' "$1"
}

up() {
  down
  docker network create "$NAME" >/dev/null
  docker volume create "$NAME-nats" >/dev/null
  docker volume create "$NAME-ferretdb" >/dev/null
  # deploy's nats.conf without its cluster block: one node (its routes would wait for nats-1 and nats-2).
  conf=".image-build/run-$NAME"
  mkdir -p "$conf" && chmod 755 "$conf"
  sed '/^cluster {/,/^}/d' "$CONFIG/nats.conf" >"$conf/nats.conf" && chmod 644 "$conf/nats.conf"
  # Each user's password as nats.yaml gives it: <SERVICE>_NATS_PASSWORD from that service's Secret.
  local passwords=() user
  for user in "${NATS_USERS[@]}"; do
    passwords+=(-e "$(echo "${user^^}" | tr - _)_NATS_PASSWORD=$(sed -n 's/^NATS_PASSWORD=//p' "$NATS_SECRETS/nats-$user.example.env")")
  done
  docker run -d --name "$NAME-nats" --network "$NAME" --network-alias nats "${LOCKED_DOWN[@]}" --tmpfs /var/run/nats:mode=1777 \
    -v "$PWD/$conf:/etc/nats:ro" -v "$NAME-nats:/data" -e POD_NAME=nats-0 "${passwords[@]}" \
    "$PREFIX/nats:${NATS_SERVER_VERSION#v}" --config /etc/nats/nats.conf >/dev/null
  docker run -d --name "$NAME-ferretdb" --network "$NAME" --network-alias mongodb "${LOCKED_DOWN[@]}" -v "$NAME-ferretdb:/data" \
    "$PREFIX/ferretdb:${FERRETDB_VERSION#v}" >/dev/null
  grpc_certs "$conf/grpc"
  local extra=() service args
  for setting in ${MAIL_EXTRA_ENV:-}; do extra+=(-e "$setting"); done
  # The dev overlay's self-signed certificates (in /tmp), as no TLS Secret is mounted here.
  local self_signed=(-e TLS_SELF_SIGNED=true -e TLS_CERT_FILE=/tmp/tls/tls.crt -e TLS_KEY_FILE=/tmp/tls/tls.key)
  for service in "${SERVICES[@]}"; do
    args=(-p "127.0.0.1:${HTTP[$service]}:${CONTAINER_HTTP[$service]}" -v "$PWD/$conf/grpc/$service:/etc/mail/grpc:ro")
    # Its own NATS user, if it uses NATS (pop3-access does not).
    if [ -f "$NATS_SECRETS/nats-$service.example.env" ]; then args+=(--env-file "$NATS_SECRETS/nats-$service.example.env"); fi
    case $service in
      # The production overlay's backend, on FerretDB instead of a MongoDB replica set.
      mailbox-store) args+=(-v "$PWD/$conf/grpc/mailctl:/etc/mail/mailctl:ro" -e MAIL_STORE=mongo -e MONGODB_URI=mongodb://mongodb:27017/ -e MONGODB_DATABASE=mail -e MAILBOX_DATA_DIR=/tmp/mailbox-store) ;;
      smtp-ingress) args+=(-p "127.0.0.1:${SMTP_PORT:-2525}:2525" "${self_signed[@]}" -e TLS_SELF_SIGNED_NAMES=localhost) ;;
      # Published on loopback only, so POP3 logins without TLS are allowed, as in the local run.
      pop3-access) args+=(-p "127.0.0.1:${POP3_PORT:-1110}:1110" "${self_signed[@]}" -e TLS_SELF_SIGNED_NAMES=localhost -e POP3_ALLOW_PLAINTEXT_AUTH=true) ;;
    esac
    docker run -d --name "$NAME-$service" --network "$NAME" --network-alias "$service" "${LOCKED_DOWN[@]}" \
      --env-file "$CONFIG/common.env" --env-file "$CONFIG/$service.env" \
      "${args[@]}" "${extra[@]}" "$PREFIX/$service:$TAG" >/dev/null
  done
  for service in "${SERVICES[@]}"; do
    for _ in $(seq 240); do ready "${HTTP[$service]}" && break; sleep 0.25; done
    ready "${HTTP[$service]}" || { docker logs --tail 30 "$NAME-$service" >&2; say "$service is not ready"; exit 1; }
  done
  say "up: SMTP 127.0.0.1:${SMTP_PORT:-2525}, POP3 127.0.0.1:${POP3_PORT:-1110}"
  local mailctl="docker exec -it -e GRPC_TLS_CERT_FILE=/etc/mail/mailctl/tls.crt -e GRPC_TLS_KEY_FILE=/etc/mail/mailctl/tls.key $NAME-mailbox-store node apps/mailctl/dist/main.js"
  say "add a domain and a user: $mailctl domain add example.test"
  say "                         $mailctl user add alice@example.test"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: scripts/containers.sh up|down" >&2; exit 64 ;;
esac
