# Static Go builds of the servers the platform runs next to its services, shared by scripts/setup.sh (into
# .tools/, for the tests and the local run) and scripts/images.sh (FROM scratch images, which have no C
# library: a dynamically linked binary fails there with "no such file or directory"). Source it.
NATS_SERVER_VERSION=v2.15.2
FERRETDB_VERSION=v1.24.0

# build_nats_server DIR: nats-server $NATS_SERVER_VERSION into DIR/nats-server.
build_nats_server() {
  GOBIN="$(cd "$1" && pwd)" CGO_ENABLED=0 go install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
}

# build_ferretdb DIR: FerretDB $FERRETDB_VERSION into DIR/ferretdb, built from the module source with
# build/version/version.txt filled in: a plain `go install ...@v1.24.0` builds a binary that panics at
# start ("Invalid build/version/version.txt").
build_ferretdb() {
  local out ferret_mod ferret_src
  out="$(cd "$1" && pwd)"
  ferret_mod=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).Dir))')
  ferret_src=$(mktemp -d)
  cp -R "$ferret_mod/." "$ferret_src" && chmod -R u+w "$ferret_src"
  echo "$FERRETDB_VERSION" > "$ferret_src/build/version/version.txt"
  (cd "$ferret_src" && CGO_ENABLED=0 go build -buildvcs=false -o "$out/ferretdb" ./cmd/ferretdb)
  rm -rf "$ferret_src"
}
