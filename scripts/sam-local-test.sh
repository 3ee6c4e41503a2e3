#!/usr/bin/env bash
# `make sam-local-test`: every sample event in events/ through the SAM CLI and Docker, the
# way docs/development.md's "Sample events" section runs one, checked against
# events/expected-status.json.
#
#   1. scripts/sam-prereqs.sh: Docker, arm64 emulation if needed, the Lambda base image;
#   2. `sam build` (cargo-lambda, arm64 release; cargo's cache is target/, shared with
#      `make build`), its bootstrap checked by scripts/check-entropy-build.py and compared
#      with `make build`'s, byte for byte (scripts/check-sam-build.sh);
#   3. DynamoDB Local in memory on a free port (it listens on every interface, so the
#      container reaches it as host.docker.internal, the Docker bridge's host address);
#   4. for each event, a table of its own, its `seed` secrets created first (each one a
#      generated HTTP API create event with an ADMIN identity for the seed's organization,
#      through the same `sam local invoke`), then
#        sam local invoke SecretsFunction -e events/FILE --env-vars ENV_FILE \
#          --skip-pull-image --add-host host.docker.internal:host-gateway
#      with ENV_FILE written by scripts/sam-local-env.sh (the event's `env` overrides added).
#      The answer must have the entry's `status`, or, for an entry with `error`, be a Lambda
#      invocation error with that `errorType`; the table must then hold `items_after`
#      secrets (default: the seeds, plus one for a 201), and no secret value of the event or
#      its seeds may appear in the output or the function's log.
#
# One line per event and a summary; exits non-zero on any mismatch. Everything it starts
# (DynamoDB Local, temporary files holding the key) is stopped and removed on exit; dockerd,
# if scripts/sam-prereqs.sh started it, keeps running. Arguments narrow the run to those
# event files (e.g. `scripts/sam-local-test.sh http-api-jwt-list.json`). SAM_SKIP_BUILD=1
# reuses .aws-sam/build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export SAM_CLI_TELEMETRY=0
export PATH="$ROOT/.local/venv/bin:$PATH"
PYTHON="$ROOT/.local/venv/bin/python"
started=$SECONDS

scripts/python-env.sh # sam and cargo-lambda
scripts/sam-prereqs.sh
rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu \
  || rustup target add aarch64-unknown-linux-gnu

WORK=$(mktemp -d) # holds env files with the key: mode 0700, removed on exit
DDB_PORT=""
cleanup() {
  [[ -n "$DDB_PORT" ]] && scripts/dynamodb-local.sh stop "$DDB_PORT"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "${SAM_SKIP_BUILD:-0}" != 1 ]]; then
  echo "sam-local-test: sam build" >&2
  build_started=$SECONDS
  if ! sam build >"$WORK/sam-build.log" 2>&1; then
    cat "$WORK/sam-build.log" >&2
    echo "sam-local-test: sam build failed" >&2
    exit 1
  fi
  echo "sam-local-test: sam build took $((SECONDS - build_started)) s" >&2
fi
SAM_BOOTSTRAP=$(scripts/sam-built-bootstrap.sh)
# sam build ran cargo lambda in this folder, so .cargo/config.toml applied: aws-lc without its
# jitter entropy source (docs/decisions/0001-randomness-and-tls-start-up.md).
scripts/check-entropy-build.py "$SAM_BOOTSTRAP"
# The same binary as make build's: SAM names no cargo package, and the workspace's other
# member (local/) must not lend it features (Cargo.toml's [workspace.metadata.lambda.build]).
scripts/check-sam-build.sh
# The host's own secrets-admin: tables and the local key.
cargo build --quiet --workspace --bins --tests # as make run builds it (scripts/run-local.sh)

scripts/dynamodb-local.sh install
DDB_PORT=$(scripts/dynamodb-local.sh free-port)
scripts/dynamodb-local.sh start "$DDB_PORT"

# SAM hands the caller's AWS credentials and region to the container, and first asks STS
# for the account id (seconds of retries without a network). With no credentials at all it
# skips that and passes placeholders, which DynamoDB Local (-sharedDb) accepts; the host's
# own calls get dummy ones (host_ddb). A variable template.yaml declares would also reach
# the function from this shell when the env file lacks it, so none may leak in either.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
for var in $("$PYTHON" -c '
from samcli.yamlhelper import yaml_parse
t = yaml_parse(open("template.yaml").read())
print(" ".join(t["Resources"]["SecretsFunction"]["Properties"]["Environment"]["Variables"]))'); do
  unset "$var"
done

# The helper: reads the manifest, writes each event's plan, checks answers, counts items.
cat >"$WORK/helper.py" <<'PY'
import json, os, sys, unicodedata



def prepare(events_dir, work, only):
    manifest = json.load(open(os.path.join(events_dir, "expected-status.json")))
    listed = {k for k in manifest if not k.startswith("_")}
    files = {f for f in os.listdir(events_dir) if f.endswith(".json") and f != "expected-status.json"}
    problems = [f"{f}: no entry in events/expected-status.json" for f in sorted(files - listed)]
    problems += [f"{f}: listed in events/expected-status.json but missing" for f in sorted(listed - files)]
    for problem in problems:
        print(f"sam-local-test: {problem}", file=sys.stderr)
    chosen = sorted(files & listed)
    if only:
        unknown = sorted(set(only) - set(chosen))
        if unknown:
            sys.exit(f"sam-local-test: no such event: {', '.join(unknown)}")
        chosen = [f for f in chosen if f in only]
    template = json.load(open(os.path.join(events_dir, "http-api-jwt-admin-create.json")))
    for index, name in enumerate(chosen):
        expect = manifest[name]
        if ("status" in expect) == ("error" in expect):
            sys.exit(f"sam-local-test: {name}: the entry needs exactly one of 'status' and 'error'")
        d = os.path.join(work, str(index))
        os.makedirs(d)
        seeds = expect.get("seed", [])
        for n, (org, secret_name, value) in enumerate(seeds):
            # As tests/api/contracts/sample_events.rs seeds: the JWT create event with this org's ADMIN identity.
            event = json.loads(json.dumps(template))
            claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
            claims["org_id"] = org
            claims["permissions"] = "ADMIN"
            event["body"] = json.dumps({"secret_name": secret_name, "secret_value": value})
            event["requestContext"]["requestId"] = f"sam-local-test-seed-{index}-{n}"
            json.dump(event, open(os.path.join(d, f"seed-{n}.json"), "w"))
        with open(os.path.join(d, "overrides"), "w") as f:
            for k, v in expect.get("env", {}).items():
                f.write(f"{k}={v}\0")
        # Values that must not show up in any output: the seeds' and the event's own.
        values = [s[2] for s in seeds]
        try:
            body = json.loads(json.load(open(os.path.join(events_dir, name))).get("body") or "null")
            if isinstance(body, dict) and isinstance(body.get("secret_value"), str):
                values.append(body["secret_value"])
        except (ValueError, TypeError, AttributeError):
            pass
        with open(os.path.join(d, "values"), "w") as f:
            f.write("".join(v + "\0" for v in values if len(v) >= 4))
        json.dump(expect, open(os.path.join(d, "expect.json"), "w"))
        print(f"{index}\t{name}\t{len(seeds)}")
    if problems:
        sys.exit(1)


def answer(path):
    text = open(path).read().strip()
    if not text:
        return None, "no answer (the function crashed? see its log)"
    try:
        # SAM prints the payload on the last line of stdout.
        return json.loads(text.splitlines()[-1]), None
    except ValueError:
        return None, f"not JSON: {text[:200]}"


def seed_ok(path):
    out, problem = answer(path)
    if problem:
        return problem
    if not isinstance(out, dict) or out.get("statusCode") != 201:
        return f"seeding answered {json.dumps(out)[:300]}"
    return None


def check(name, d, out_path, log_path, items, seconds):
    expect = json.load(open(os.path.join(d, "expect.json")))
    seeds = len(expect.get("seed", []))
    out, problem = answer(out_path)
    got = "-"
    if out is not None:
        if isinstance(out, dict) and "errorType" in out:
            got = f"error {out['errorType']}"
        elif isinstance(out, dict) and "statusCode" in out:
            got = str(out["statusCode"])
        else:
            got = json.dumps(out)[:120]
    want = f"error {expect['error']}" if "error" in expect else str(expect["status"])
    problems = [problem] if problem else []
    if not problem and got != want:
        detail = out.get("body") if isinstance(out, dict) and "body" in out else json.dumps(out)
        problems.append(f"answer: {str(detail)[:300]}")
    items_after = expect.get("items_after", seeds + (1 if expect.get("status") == 201 else 0))
    if items is None:
        problems.append("could not count the table's items")
    elif items != items_after:
        problems.append(f"{items} secrets in the table afterwards, expected {items_after}")
    if not problem and name.endswith("-list.json") and got == "200":
        secrets = json.loads(out["body"]).get("secrets")
        if secrets != ["github_token", "stripe_api_key"]:
            problems.append(f"listed {secrets}")
    values = [v for v in open(os.path.join(d, "values")).read().split("\0") if v]
    seen = open(out_path, errors="replace").read() + open(log_path, errors="replace").read()
    if any(v in seen for v in values):
        problems.append("a secret value appears in the output or the log")
    status = "ok  " if not problems else "FAIL"
    print(f"sam-local-test: {status} {name} -> {got} (expected {want}; {seconds} s)")
    for p in problems:
        print(f"sam-local-test:        {p}")
    return 0 if not problems else 1


def count(table):
    import boto3
    client = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
    n = 0
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        # Live secrets only: no item whose sort key starts with a control character (the
        # counter, the names' version items), nor anything in a partition that does, which
        # is never an organization's (the recovery copies, change records, the bindings
        # marker; docs/storage-contract.md). Valid names never start with one.
        def controlled(text):
            return unicodedata.category(text[:1] or "\0") == "Cc"

        n += sum(
            1
            for item in page["Items"]
            if not controlled(item.get("secret_name", {}).get("S", ""))
            and not controlled(item.get("org_id", {}).get("S", ""))
        )
    print(n)


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "prepare":
        prepare(args[0], args[1], args[2:])
    elif cmd == "seed-ok":
        problem = seed_ok(args[0])
        if problem:
            print(problem)
            sys.exit(1)
    elif cmd == "check":
        sys.exit(check(args[0], args[1], args[2], args[3], None if args[4] == "" else int(args[4]), args[5]))
    elif cmd == "count":
        count(args[0])
PY

"$PYTHON" "$WORK/helper.py" prepare events "$WORK" "$@" >"$WORK/plan.tsv"

# The very command docs/development.md shows, with this event's env file. SAM starts the function's
# 10 s timeout once Docker's port proxy accepts a connection, which can be before the emulator
# in the container listens; on a loaded machine under QEMU the invoke then times out before
# the event ever reached the function ("No response from invoke container", no START line).
# Only that case is retried, so no event is ever delivered twice.
invoke() { # EVENT ENV_FILE OUT LOG
  local attempt rc
  for attempt in 1 2 3 4; do
    rc=0
    timeout 300 sam local invoke SecretsFunction -e "$1" --env-vars "$2" \
      --skip-pull-image --add-host host.docker.internal:host-gateway </dev/null >"$3" 2>"$4" || rc=$?
    if [[ -s "$3" ]] || grep -q '^START RequestId' "$4"; then return "$rc"; fi
    echo "sam-local-test:        $(basename "$1"): the container did not take the event (attempt $attempt of 4)" >&2
    cp "$4" "$4.attempt-$attempt"
  done
  return "$rc"
}
host_ddb() {
  AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DDB_PORT" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local "$@"
}

# A warm-up before the counted events: the first containers after a build (cold page cache,
# Docker and arm64 emulation starting up) can miss SAM's 10 s timeout; a cheap event (401,
# no DynamoDB call) is sent until one container answers, at most six times. It counts for
# nothing and writes nothing.
warm_started=$SECONDS
host_ddb env SECRETS_TABLE_NAME=sam-local-test-warm-up target/debug/secrets-admin create-table >/dev/null 2>&1 || true
scripts/sam-local-env.sh --port "$DDB_PORT" --table sam-local-test-warm-up --out "$WORK/warm-up-env.json" >/dev/null
for warm_attempt in 1 2 3 4 5 6; do
  timeout 300 sam local invoke SecretsFunction -e events/http-api-no-authorizer-create.json \
    --env-vars "$WORK/warm-up-env.json" --skip-pull-image --add-host host.docker.internal:host-gateway \
    </dev/null >"$WORK/warm-up.out" 2>"$WORK/warm-up.log" || true
  [[ -s "$WORK/warm-up.out" ]] && break
done
echo "sam-local-test: warm-up took $((SECONDS - warm_started)) s ($warm_attempt invoke(s))" >&2

passed=0
failed=0
invokes_started=$SECONDS
while IFS=$'\t' read -r -u 3 index file nseeds; do
  d="$WORK/$index"
  event_started=$SECONDS
  table="sam-local-test-$index"
  if ! host_ddb env SECRETS_TABLE_NAME="$table" target/debug/secrets-admin create-table >"$d/table.log" 2>&1; then
    echo "sam-local-test: FAIL $file: could not create its table: $(cat "$d/table.log")"
    failed=$((failed + 1))
    continue
  fi
  scripts/sam-local-env.sh --port "$DDB_PORT" --table "$table" --out "$d/seed-env.json" >/dev/null
  overrides=()
  while IFS= read -r -d '' kv; do overrides+=("$kv"); done <"$d/overrides"
  scripts/sam-local-env.sh --port "$DDB_PORT" --table "$table" --out "$d/env.json" "${overrides[@]}" >/dev/null

  seeded=1
  for ((n = 0; n < nseeds; n++)); do
    invoke "$d/seed-$n.json" "$d/seed-env.json" "$d/seed-$n.out" "$d/seed-$n.log" || true
    if ! problem=$("$PYTHON" "$WORK/helper.py" seed-ok "$d/seed-$n.out"); then
      echo "sam-local-test: FAIL $file: seed $((n + 1)) of $nseeds: $problem"
      tail -n 15 "$d/seed-$n.log" | sed 's/^/    /'
      seeded=0
      break
    fi
  done
  if [[ "$seeded" -eq 0 ]]; then
    failed=$((failed + 1))
    continue
  fi

  invoke "events/$file" "$d/env.json" "$d/out" "$d/log" || echo "sam local invoke exited with $?" >>"$d/log"
  items=$(host_ddb "$PYTHON" "$WORK/helper.py" count "$table" 2>>"$d/log" || true)
  if "$PYTHON" "$WORK/helper.py" check "$file" "$d" "$d/out" "$d/log" "$items" "$((SECONDS - event_started))"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "sam-local-test:        the function's log (last lines):"
    grep -v '^\s*$' "$d/log" | tail -n 12 | sed 's/^/    /'
  fi
done 3<"$WORK/plan.tsv"

total=$((passed + failed))
echo "sam-local-test: $passed of $total events as expected, $failed failed ($((SECONDS - invokes_started)) s of invokes, $((SECONDS - started)) s in all)"
[[ "$failed" -eq 0 && "$total" -gt 0 ]]
