#!/usr/bin/env bash
# Autobahn|Testsuite (sections 1-10; 12-13 are permessage-deflate, not negotiated) against the
# core alone and against every adapter, each as server and as client (tests/src/bin/).
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

# Sections 1-10 against one echo server: $1 = agent name, rest = the server command (it prints
# "listening on ADDR").
server_suite() {
    local agent=$1; shift
    echo "== Autobahn fuzzingclient vs $agent =="
    "$@" > "$reports/$agent.addr" &
    local pid=$!
    for _ in $(seq 100); do grep -q listening "$reports/$agent.addr" 2>/dev/null && break; sleep 0.1; done
    local addr
    addr=$(sed -n 's/^listening on //p' "$reports/$agent.addr")
    "$AUTOBAHN/run-server-suite.sh" -q -a "$agent" -x '12.*,13.*' -o "$reports/servers-$agent" "$addr" || status=1
    check_strict "$reports/servers-$agent/summary.json" || status=1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Sections 1-10 against one client: $1 = agent name, rest = the client command.
client_suite() {
    local agent=$1; shift
    echo "== Autobahn fuzzingserver vs $agent =="
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$AUTOBAHN/run-client-suite.sh" -a "$agent" -p "$port" -x '12.*,13.*' -o "$reports/clients-$agent" -- "$@" || status=1
    check_strict "$reports/clients-$agent/summary.json" || status=1
}

# The core alone, through the blocking test driver.
server_suite sockwright-core "$bin/autobahn-echo-server" 127.0.0.1:0
client_suite sockwright-core "$bin/autobahn-client"

# Every adapter, through the conformance suite's adapter interface.
for adapter in ${AUTOBAHN_ADAPTERS:-std mio smol tokio}; do
    server_suite "$adapter" "$bin/autobahn-adapter" server "$adapter" 127.0.0.1:0
    client_suite "$adapter" "$bin/autobahn-adapter" client "$adapter"
done

echo "reports: $reports"
exit $status
