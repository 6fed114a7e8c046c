#!/usr/bin/env bash
# make demo: vcsim -> event-router (console sink) -> CloudEvents on your terminal.
# Starts vcsim and the router on loopback, powers VMs off and on with govc, prints the
# CloudEvents the router emitted, and stops everything it started.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
BIN=$ROOT/.tools/bin
ROUTER=${ROUTER:-$ROOT/target/debug/event-router}
PY=$ROOT/.tools/venv/bin/python
WORK=$(mktemp -d)
VCSIM_PID=""
ROUTER_PID=""

cleanup() {
  [ -n "$ROUTER_PID" ] && kill -TERM "$ROUTER_PID" 2>/dev/null && wait "$ROUTER_PID" 2>/dev/null
  [ -n "$VCSIM_PID" ] && kill -TERM "$VCSIM_PID" 2>/dev/null && wait "$VCSIM_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

for f in "$BIN/vcsim" "$BIN/govc" "$ROUTER" "$PY"; do
  [ -x "$f" ] || { echo "demo: $f is missing: run 'make demo' (it installs the tools and builds the router)" >&2; exit 1; }
done

"$BIN/vcsim" -l 127.0.0.1:0 >"$WORK/vcsim.env" 2>"$WORK/vcsim.log" &
VCSIM_PID=$!
for _ in $(seq 1 100); do grep -q 'GOVC_URL=' "$WORK/vcsim.env" && break; sleep 0.1; done
GOVC_URL=$(sed -n 's/.*GOVC_URL=\([^ ]*\).*/\1/p' "$WORK/vcsim.env")
[ -n "$GOVC_URL" ] || { echo "demo: vcsim did not start: $(cat "$WORK/vcsim.log")" >&2; exit 1; }
SDK_URL="https://${GOVC_URL#*@}"
export GOVC_URL GOVC_INSECURE=1 GOVMOMI_HOME="$WORK/govc"
echo "vcsim (govmomi 0.24.2) is serving $SDK_URL"

METRICS_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/config.yaml" <<YAML
apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: demo
eventProvider:
  type: vcenter
  name: vcsim
  vcenter:
    address: $SDK_URL
    insecureSSL: true   # vcsim's certificate is self-signed; never do this in production
    auth:
      type: basic_auth
      basicAuth:
        username: user
        password: pass
eventProcessor:
  type: console
  name: console
metricsProvider:
  type: default
  name: metrics
  default:
    bindAddress: 127.0.0.1:$METRICS_PORT
YAML

"$ROUTER" --config "$WORK/config.yaml" >"$WORK/events.jsonl" 2>"$WORK/router.log" &
ROUTER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null || { echo "demo: router not ready:" >&2; cat "$WORK/router.log" >&2; exit 1; }
echo "event-router is streaming (metrics on 127.0.0.1:$METRICS_PORT)"

for vm in DC0_H0_VM0 DC0_C0_RP0_VM1; do
  "$BIN/govc" vm.power -off "$vm"
  "$BIN/govc" vm.power -on "$vm"
done
sleep 1.5

echo
echo "CloudEvents the router emitted (id, type, subject, message):"
"$PY" - "$WORK/events.jsonl" <<'PY'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
for e in events:
    print(f'  {e["id"]:>4}  {e["type"]}  {e.get("subject", ""):<22}  {e["data"]["FullFormattedMessage"]}')
vm = [e for e in events if e.get("subject") == "VmPoweredOffEvent"]
if vm:
    print("\nThe first VmPoweredOffEvent in full:")
    print(json.dumps(vm[0], indent=2))
if not events:
    sys.exit("demo: no CloudEvents were emitted")
PY
echo
echo "/stats:"
curl -fsS "http://127.0.0.1:$METRICS_PORT/stats"
echo
