#!/usr/bin/env bash
# Autobahn|Testsuite (sections 1-10; 12-13 are permessage-deflate, not negotiated) against the
# core, as server and as client, through the blocking harness in tests/src/bin/.
# Fails on any FAILED, NON-STRICT or MISSING case. Needs ../shared/tools/autobahn beside the
# repository; its setup.sh installs the suite into a venv (PyPI only).
set -euo pipefail
cd "$(dirname "$0")/.."
AUTOBAHN="${AUTOBAHN_TOOLS:-$(cd .. && pwd)/shared/tools/autobahn}"
[ -x "$AUTOBAHN/setup.sh" ] || { echo "autobahn tools not found at $AUTOBAHN" >&2; exit 2; }
"$AUTOBAHN/setup.sh" >/dev/null

cargo build --release -p sockwright-tests --bins --locked
bin="${CARGO_TARGET_DIR:-target}/release"
reports="$(mktemp -d)"
status=0

# Sections 1-10 pass with no NON-STRICT verdicts, or this fails.
check_strict() {
    python3 - "$1" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
bad = {agent: s["non_strict"] for agent, s in summary.items() if s["non_strict"]}
if bad:
    print("NON-STRICT cases:", bad)
    sys.exit(1)
PY
}

echo "== Autobahn fuzzingclient vs the core's echo server =="
"$bin/autobahn-echo-server" 127.0.0.1:0 > "$reports/server.addr" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening "$reports/server.addr" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/^listening on //p' "$reports/server.addr")
"$AUTOBAHN/run-server-suite.sh" -q -a sockwright-core -x '12.*,13.*' -o "$reports/servers" "$addr" || status=1
check_strict "$reports/servers/summary.json" || status=1
kill $server_pid 2>/dev/null || true

echo "== Autobahn fuzzingserver vs the core's client =="
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$AUTOBAHN/run-client-suite.sh" -a sockwright-core -p "$port" -x '12.*,13.*' -o "$reports/clients" -- "$bin/autobahn-client" || status=1
check_strict "$reports/clients/summary.json" || status=1

echo "reports: $reports"
exit $status
