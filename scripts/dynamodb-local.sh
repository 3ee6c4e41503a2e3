#!/usr/bin/env bash
# DynamoDB Local (the official AWS jar) as shipped inside the npm package
# amplify-dynamodb-simulator, so a clean machine needs only npm and Java 17+.
#
#   scripts/dynamodb-local.sh install                 download once into .local/dynamodb-local
#   scripts/dynamodb-local.sh start PORT [DATA_DIR]   start on 127.0.0.1:PORT (in memory unless DATA_DIR)
#   scripts/dynamodb-local.sh stop PORT               stop the one started on PORT
#   scripts/dynamodb-local.sh start-for PID PORT      start in memory on PORT, and stop it once
#                                                     process PID has exited, however it exits
#                                                     (the tests' support uses this)
#   scripts/dynamodb-local.sh free-port               print a free loopback TCP port
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIMULATOR_VERSION="2.9.30"
INSTALL_DIR="$ROOT/.local/dynamodb-local"
RUN_DIR="$ROOT/.local/run"

die() { echo "dynamodb-local: $*" >&2; exit 1; }

check_java() {
  command -v java >/dev/null || die "Java 17+ is required (java not found on PATH)"
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1)
  [[ -n "$major" && "$major" -ge 17 ]] || die "Java 17+ is required (found specification version '${major:-unknown}')"
}

install() {
  if [[ -f "$INSTALL_DIR/DynamoDBLocal.jar" ]]; then return 0; fi
  command -v npm >/dev/null || die "npm is required to download DynamoDB Local"
  local tmp
  tmp=$(mktemp -d)
  # A RETURN trap outlives the function that sets it: remove it when it fires, or it fires
  # again at the next function's return (e.g. in `start`, where $tmp is not set).
  trap 'rm -rf "$tmp"; trap - RETURN' RETURN
  echo "dynamodb-local: downloading amplify-dynamodb-simulator@$SIMULATOR_VERSION from npm (once)" >&2
  (cd "$tmp" && npm pack --silent "amplify-dynamodb-simulator@$SIMULATOR_VERSION" >/dev/null)
  tar -xzf "$tmp"/amplify-dynamodb-simulator-*.tgz -C "$tmp" package/emulator
  [[ -f "$tmp/package/emulator/DynamoDBLocal.jar" ]] || die "the npm package has no emulator/DynamoDBLocal.jar"
  mkdir -p "$(dirname "$INSTALL_DIR")"
  rm -rf "$INSTALL_DIR.part"
  mv "$tmp/package/emulator" "$INSTALL_DIR.part"
  mv "$INSTALL_DIR.part" "$INSTALL_DIR"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local port="${1:?port}" data_dir="${2:-}"
  check_java
  install
  mkdir -p "$RUN_DIR"
  if port_open "$port"; then die "port $port is already in use"; fi
  local storage=(-inMemory)
  if [[ -n "$data_dir" ]]; then
    mkdir -p "$data_dir"
    storage=(-dbPath "$data_dir")
  fi
  # -sharedDb: every region and access key sees the same tables, so tests, make run and
  # any AWS CLI profile agree on what exists.
  (cd "$INSTALL_DIR" && exec java -Xmx512m -Djava.library.path=DynamoDBLocal_lib -jar DynamoDBLocal.jar \
      "${storage[@]}" -sharedDb -disableTelemetry -port "$port") >"$RUN_DIR/dynamodb-$port.log" 2>&1 &
  echo $! >"$RUN_DIR/dynamodb-$port.pid"
  for _ in $(seq 1 600); do
    if port_open "$port"; then return 0; fi
    kill -0 "$(cat "$RUN_DIR/dynamodb-$port.pid")" 2>/dev/null || { cat "$RUN_DIR/dynamodb-$port.log" >&2; die "DynamoDB Local exited during start"; }
    sleep 0.2
  done
  die "DynamoDB Local did not open port $port within 120 s (log: $RUN_DIR/dynamodb-$port.log)"
}

stop() {
  local port="${1:?port}" pid_file="$RUN_DIR/dynamodb-${1:-}.pid"
  [[ -f "$pid_file" ]] || return 0
  local pid
  pid=$(cat "$pid_file")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pid_file"
}

# A watchdog in the background stops DynamoDB Local once process `owner` is gone: it needs
# no cleanup from the owner, so a test process that panics or is killed leaves nothing behind.
start_for() {
  local owner="${1:?pid}" port="${2:?port}"
  running "$owner" || die "no process $owner to start DynamoDB Local for"
  # Started first, so it also stops a DynamoDB Local whose start below fails half-way. Its
  # output goes nowhere, so nothing waits on this script's pipes for it. It ignores the
  # signals a Ctrl-C or a hang-up sends the whole process group, so it outlives the owner
  # and cleans up after it.
  (
    trap '' INT HUP TERM
    while running "$owner"; do sleep 0.2; done
    stop "$port"
    rm -f "$RUN_DIR/dynamodb-$port.log"
  ) </dev/null >/dev/null 2>&1 &
  start "$port"
}

# Whether process $1 exists and has not exited (an exited process its parent has not reaped
# yet is a zombie: gone, for us).
running() {
  kill -0 "$1" 2>/dev/null || return 1
  if [[ -r "/proc/$1/stat" ]]; then
    local stat
    read -r stat <"/proc/$1/stat" || return 1
    stat="${stat##*) }"
    [[ "${stat%% *}" != Z ]]
  fi
}

case "${1:-}" in
  install) check_java; install ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  start-for) shift; start_for "$@" ;;
  free-port) free_port ;;
  *) die "usage: $0 install | start PORT [DATA_DIR] | stop PORT | start-for PID PORT | free-port" ;;
esac
