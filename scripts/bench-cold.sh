#!/usr/bin/env bash
# `make bench-cold`: cold start, first invoke, warm latency and memory of the release
# bootstrap against a local Runtime API and DynamoDB Local (in memory, free port), over two
# endpoints side by side:
#
#   http  DynamoDB Local itself, plain HTTP;
#   tls   the same DynamoDB Local behind a TLS terminator (Debian's stunnel4, installed with
#         apt-get when missing, which needs root), as the function reaches DynamoDB in AWS.
#
# The TLS chain is made now with openssl and thrown away afterwards: a root, an intermediate
# and a server certificate for 127.0.0.1 (RSA 2048, the shape of DynamoDB's own chain). The
# function trusts the root through SSL_CERT_FILE, which rustls-native-certs (the SDK's root
# store loader) reads instead of the platform store: it names a file holding this machine's
# CA bundle plus the throwaway root, so the function parses as many roots at init as it does
# from the platform store in AWS. Afterwards the script proves the TLS functions went through
# the terminator: stunnel's log must show at least one completed TLS handshake per TLS
# function started, or the script fails.
#
# Prints figures; asserts nothing about time. Arguments go to bench-cold (--spawns,
# --invokes). BENCH_COLD_BASELINE=PATH also runs that bootstrap (an older build, copied
# somewhere) over both endpoints in the same run, interleaved, for before/after figures.
# BENCH_COLD_PYTHON_PEER=1 adds benches/python-peer (FastAPI + Mangum + boto3, the same
# create) over the same TLS endpoint, and prints its ratio to the Rust function.
# BENCH_COLD_KEEP=1 keeps the work folder (certificates, stunnel's log).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { echo "bench-cold: $*" >&2; }
die() {
  echo "bench-cold: ERROR: $*" >&2
  exit 1
}

# The terminator and openssl, from Debian's packages when missing (as scripts/sam-prereqs.sh
# installs Docker).
stunnel_bin() { command -v stunnel4 || command -v stunnel || true; }
ensure_tls_tools() {
  local missing=()
  command -v openssl >/dev/null || missing+=(openssl)
  [[ -n "$(stunnel_bin)" ]] || missing+=(stunnel4)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  [[ "$(id -u)" -eq 0 ]] || die "missing ${missing[*]}: run this script as root (it installs them with apt-get), or install them yourself (Debian: apt-get install ${missing[*]})"
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install them with your package manager"
  say "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [[ -n "$(stunnel_bin)" ]] || die "stunnel is still missing after apt-get install"
}

ensure_tls_tools
STUNNEL=$(stunnel_bin)

# The optional Python peer (BENCH_COLD_PYTHON_PEER=1): FastAPI + Mangum + boto3 doing the same
# create, in a venv of its own (benches/python-peer/requirements.txt), its bytecode compiled
# ahead as a deployment package would carry it.
PEER_VENV="$ROOT/.local/peer-venv"
ensure_peer_venv() {
  local requirements="$ROOT/benches/python-peer/requirements.txt" stamp="$PEER_VENV/.requirements"
  if [[ -f "$stamp" ]] && cmp -s "$stamp" "$requirements"; then return 0; fi
  say "installing the Python peer's packages into .local/peer-venv (once)"
  [[ -x "$PEER_VENV/bin/python" ]] || python3 -m venv "$PEER_VENV"
  "$PEER_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  "$PEER_VENV/bin/python" -m compileall -q "$PEER_VENV/lib" "$ROOT/benches/python-peer" >/dev/null || true
  cp "$requirements" "$stamp"
}
if [[ "${BENCH_COLD_PYTHON_PEER:-0}" == 1 ]]; then ensure_peer_venv; fi

cargo build --release -p org-secrets --bin bootstrap --bin secrets-admin
cargo build --release -p org-secrets-local --bin bench-cold
# Not a timing check: the release binary must have been built without aws-lc's jitter
# entropy source (docs/decisions/0001-randomness-and-tls-start-up.md).
scripts/check-entropy-build.py target/release/bootstrap

WORK=$(mktemp -d)
DDB_PORT=""
STUNNEL_PID=""
cleanup() {
  [[ -n "$STUNNEL_PID" ]] && kill "$STUNNEL_PID" 2>/dev/null && wait "$STUNNEL_PID" 2>/dev/null
  [[ -n "$DDB_PORT" ]] && scripts/dynamodb-local.sh stop "$DDB_PORT"
  if [[ "${BENCH_COLD_KEEP:-0}" == 1 ]]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/dynamodb-local.sh install
DDB_PORT=$(scripts/dynamodb-local.sh free-port)
scripts/dynamodb-local.sh start "$DDB_PORT"

# The throwaway chain: root -> intermediate -> server (127.0.0.1).
(
  cd "$WORK"
  cat >ext.cnf <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF
  for name in root intermediate server; do
    openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$name.key"
  done
  openssl req -x509 -new -key root.key -subj "/CN=org-secrets bench-cold throwaway root" -days 2 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out root.pem
  openssl req -new -key intermediate.key -subj "/CN=org-secrets bench-cold throwaway intermediate" -out intermediate.csr
  openssl x509 -req -in intermediate.csr -CA root.pem -CAkey root.key -CAcreateserial -days 2 -sha256 \
    -extfile ext.cnf -extensions ca -out intermediate.pem 2>/dev/null
  openssl req -new -key server.key -subj "/CN=127.0.0.1" -out server.csr
  openssl x509 -req -in server.csr -CA intermediate.pem -CAkey intermediate.key -CAcreateserial -days 2 -sha256 \
    -extfile ext.cnf -extensions server -out server.pem 2>/dev/null
  cat server.pem intermediate.pem >server-chain.pem
  openssl verify -CAfile root.pem -untrusted intermediate.pem server.pem >/dev/null
) || die "could not make the throwaway certificates"

# What the function trusts: this machine's bundle (as the platform store would give it) plus
# the throwaway root.
BUNDLE=""
for candidate in /etc/ssl/certs/ca-certificates.crt /etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem /etc/pki/tls/certs/ca-bundle.crt; do
  if [[ -f "$candidate" ]]; then
    BUNDLE=$candidate
    break
  fi
done
{
  [[ -n "$BUNDLE" ]] && cat "$BUNDLE"
  cat "$WORK/root.pem"
} >"$WORK/trust.pem"
ROOTS=$(grep -c 'BEGIN CERTIFICATE' "$WORK/trust.pem")

TLS_PORT=$(scripts/dynamodb-local.sh free-port)
# Logging at "info" writes the handshake lines the proof below counts, to the file only:
# syslog (tried per line, even without a daemon) and stderr cost the terminator ~10 ms per
# connection, which would land in the tls figures although the function does none of it.
cat >"$WORK/stunnel.conf" <<CONF
foreground = quiet
syslog = no
pid =
output = $WORK/stunnel.log
debug = info
[dynamodb]
accept = 127.0.0.1:$TLS_PORT
connect = 127.0.0.1:$DDB_PORT
cert = $WORK/server-chain.pem
key = $WORK/server.key
CONF
"$STUNNEL" "$WORK/stunnel.conf" >"$WORK/stunnel.stdout" 2>&1 &
STUNNEL_PID=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null && break
  kill -0 "$STUNNEL_PID" 2>/dev/null || die "stunnel exited: $(cat "$WORK/stunnel.stdout" "$WORK/stunnel.log" 2>/dev/null)"
  sleep 0.1
done
handshakes() { grep -c 'TLS accepted: new session negotiated' "$WORK/stunnel.log" || true; }
PROBE_HANDSHAKES=$(handshakes) # the readiness probe above closed without a handshake

source scripts/local-aws-env.sh "$DDB_PORT"
export SECRETS_TABLE_NAME=bench-cold
# Each function writes into an organization of its own; the ceiling lets --invokes go to 10,000.
export MAX_SECRETS_PER_ORG=10000
ENCRYPTION_KEY="$(target/release/secrets-admin generate-key)"
export ENCRYPTION_KEY
target/release/secrets-admin create-table >/dev/null
# rustls-native-certs reads SSL_CERT_FILE and SSL_CERT_DIR instead of the platform store, and
# both when both are set: a directory inherited from the shell (many CI images set one) would
# be parsed on top of the file, which the platform store in AWS does not do.
export SSL_CERT_FILE="$WORK/trust.pem"
unset SSL_CERT_DIR

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "tls: $("$STUNNEL" -version 2>&1 | grep -m1 -o 'stunnel [0-9.]*') on $(openssl version | cut -d' ' -f1-2), chain root -> intermediate -> 127.0.0.1 (RSA 2048, made now); SSL_CERT_FILE holds $ROOTS roots (${BUNDLE:-no bundle} + the throwaway root)"

SPAWNS=21
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [[ "${args[i]}" == --spawns ]] && SPAWNS=${args[i + 1]:-$SPAWNS}
done
endpoints=()
TLS_ENDPOINTS=1
if [[ -n "${BENCH_COLD_BASELINE:-}" ]]; then
  [[ -x "$BENCH_COLD_BASELINE" ]] || die "BENCH_COLD_BASELINE=$BENCH_COLD_BASELINE is not an executable bootstrap"
  endpoints+=(--bootstrap "$BENCH_COLD_BASELINE"
    --endpoint "http-baseline=http://127.0.0.1:$DDB_PORT"
    --endpoint "tls-baseline=https://127.0.0.1:$TLS_PORT")
  TLS_ENDPOINTS=2
fi
endpoints+=(--bootstrap target/release/bootstrap
  --endpoint "http=http://127.0.0.1:$DDB_PORT"
  --endpoint "tls=https://127.0.0.1:$TLS_PORT")
if [[ "${BENCH_COLD_PYTHON_PEER:-0}" == 1 ]]; then
  endpoints+=(--bootstrap benches/python-peer/bootstrap
    --endpoint "tls-python=https://127.0.0.1:$TLS_PORT")
  TLS_ENDPOINTS=$((TLS_ENDPOINTS + 1))
fi
target/release/bench-cold "${endpoints[@]}" --spawns "$SPAWNS" "$@" | tee "$WORK/figures.txt"
if [[ "${BENCH_COLD_PYTHON_PEER:-0}" == 1 ]]; then
  # Columns of bench-cold's table: | endpoint | init p50 | init CPU p50 | first invoke p50 |
  # init + first p50 | ...
  awk -F'|' '
    { gsub(/ ms/, ""); for (i = 2; i <= NF; i++) gsub(/^ +| +$/, "", $i) }
    $2 == "tls" { init = $3; total = $6 }
    $2 == "tls-python" { py_init = $3; py_total = $6 }
    END {
      if (init > 0 && total > 0)
        printf "python peer over TLS: init p50 %.1fx the Rust function'"'"'s, init + first invoke p50 %.1fx\n", py_init / init, py_total / total
    }' "$WORK/figures.txt"
fi

# The proof that the TLS figures are TLS. Every function started against a TLS endpoint (the
# one that warms DynamoDB Local up, one per cold start, the warm one) opens at least one
# connection through the terminator, and each must be a completed handshake.
HANDSHAKES=$(($(handshakes) - PROBE_HANDSHAKES))
EXPECTED=$((TLS_ENDPOINTS * (SPAWNS + 2)))
PROTOCOLS=$(grep -o 'TLSv1\.[0-9] ciphersuite: [A-Z0-9_]*' "$WORK/stunnel.log" | sort | uniq -c | sed 's/^ *//' | paste -sd, - || true)
echo "tls: stunnel completed $HANDSHAKES TLS handshakes for $EXPECTED functions started against a TLS endpoint (${PROTOCOLS:-no protocol logged})"
[[ "$HANDSHAKES" -ge "$EXPECTED" ]] || die "stunnel's log shows $HANDSHAKES TLS handshakes, fewer than the $EXPECTED TLS functions: the tls figures did not go through TLS"
