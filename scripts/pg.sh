#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the test suites.
#   scripts/pg.sh start   -> initdb + start on a free loopback port in a temp dir; prints `export …` lines
#   scripts/pg.sh stop    -> stop it and delete its directory
#   scripts/pg.sh down    -> stop the server (fast shutdown: connections are cut), keep the cluster
#   scripts/pg.sh up      -> start it again on the same port
# The state lives in $APPKEYS_PG_STATE (default: $TMPDIR/appkeys-pg.env). Needs Debian's `postgresql`
# (scripts/install.sh installs it). initdb refuses to run as root, so the cluster runs as the `postgres`
# system user when we are root.
set -euo pipefail
STATE=${APPKEYS_PG_STATE:-${TMPDIR:-/tmp}/appkeys-pg.env}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] || { echo "pg.sh: PostgreSQL binaries not found; run scripts/install.sh" >&2; exit 1; }
  echo "$d"
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

case "${1:-}" in
start)
  if [ -f "$STATE" ]; then
    # shellcheck disable=SC1090
    . "$STATE"
    if as_pg "$(pg_bin)/pg_ctl" -D "$APPKEYS_PG_DIR" status >/dev/null 2>&1; then cat "$STATE"; exit 0; fi
    rm -f "$STATE"
  fi
  BIN=$(pg_bin)
  DIR=$(mktemp -d "${TMPDIR:-/tmp}/appkeys-pg.XXXXXX")
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
  PORT=$(free_port)
  as_pg "$BIN/initdb" -D "$DIR/data" -U appkeys --auth=trust -E UTF8 --no-locale >"$DIR/initdb.log" 2>&1 ||
    { cat "$DIR/initdb.log" >&2; exit 1; }
  # TLS on (self-signed, one day) so the tests can prove connections with `sslmode=require` are encrypted;
  # plain connections stay allowed.
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout "$DIR/server.key" -out "$DIR/server.crt" >/dev/null 2>&1
  chmod 600 "$DIR/server.key"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR/server.key" "$DIR/server.crt"
  OPTIONS="-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off \
-c ssl=on -c ssl_cert_file=$DIR/server.crt -c ssl_key_file=$DIR/server.key"
  as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 -o "$OPTIONS" start >/dev/null ||
    { cat "$DIR/server.log" >&2; exit 1; }
  {
    echo "export APPKEYS_PG_DIR=$DIR/data"
    echo "export APPKEYS_PG_OPTIONS='$OPTIONS'"
    echo "export APPKEYS_TEST_PG_ADMIN_URL=postgres://appkeys@127.0.0.1:$PORT/postgres"
  } >"$STATE"
  cat "$STATE"
  ;;
down)
  # shellcheck disable=SC1090
  . "$STATE"
  as_pg "$(pg_bin)/pg_ctl" -D "$APPKEYS_PG_DIR" -m fast -w stop >/dev/null
  ;;
up)
  # shellcheck disable=SC1090
  . "$STATE"
  as_pg "$(pg_bin)/pg_ctl" -D "$APPKEYS_PG_DIR" -l "$(dirname "$APPKEYS_PG_DIR")/server.log" -w -t 60 \
    -o "$APPKEYS_PG_OPTIONS" start >/dev/null
  ;;
stop)
  [ -f "$STATE" ] || exit 0
  # shellcheck disable=SC1090
  . "$STATE"
  as_pg "$(pg_bin)/pg_ctl" -D "$APPKEYS_PG_DIR" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$(dirname "$APPKEYS_PG_DIR")" "$STATE"
  ;;
*)
  echo "usage: scripts/pg.sh start|stop|down|up" >&2
  exit 2
  ;;
esac
