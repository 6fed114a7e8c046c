#!/usr/bin/env bash
# Imports an OVA into vcsim the way scripts/deploy-govc.sh deploys it on a vCenter (govc
# import.spec, the properties mapped, import.ova), then reads every vApp property of the new VM
# back and compares it with what was asked: a value from PROPERTIES, else the OVA's default. It
# proves the OVA's descriptor is one a vSphere API takes, with the keys and defaults firstboot
# expects, without vSphere (the OVA workflow runs it on the built OVA).
#
# Usage: scripts/vcsim-import-ova.sh OVA [PROPERTIES]
#   PROPERTIES  scripts/appliance.properties.example's format; default: that file with
#               guestinfo.hostname set (every property at its default)
# Environment: VCSIM and GOVC (default .tools/bin/*, then PATH). Needs jq.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
die() { printf 'vcsim-import-ova: %s\n' "$*" >&2; exit 1; }
(($# == 1 || $# == 2)) || { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
OVA=$1
[[ -f $OVA ]] || die "no OVA at $OVA"
tool() {
  local name=$1 var=$2
  if [[ -n ${!var:-} ]]; then printf '%s\n' "${!var}"
  elif [[ -x $ROOT/.tools/bin/$name ]]; then printf '%s\n' "$ROOT/.tools/bin/$name"
  elif command -v "$name" >/dev/null; then command -v "$name"
  else die "$name is not installed (scripts/install-test-tools.sh builds it into .tools/bin)"
  fi
}
VCSIM_BIN=$(tool vcsim VCSIM)
GOVC_BIN=$(tool govc GOVC)
command -v jq >/dev/null || die "jq is not installed"

WORK=$(mktemp -d)
VCSIM_PID=
cleanup() {
  [[ -z $VCSIM_PID ]] || kill "$VCSIM_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
chmod 700 "$WORK"

if (($# == 2)); then
  PROPS=$2
else
  PROPS=$WORK/appliance.properties
  sed 's/^guestinfo\.hostname=$/guestinfo.hostname=veba.vcsim.test/' "$ROOT/scripts/appliance.properties.example" >"$PROPS"
fi

"$VCSIM_BIN" -l 127.0.0.1:0 >"$WORK/vcsim.out" 2>"$WORK/vcsim.log" &
VCSIM_PID=$!
url=
for _ in $(seq 1 150); do
  url=$(grep -o 'GOVC_URL=[^ ]*' "$WORK/vcsim.out" || true)
  [[ -z $url ]] || break
  kill -0 "$VCSIM_PID" 2>/dev/null || die "vcsim exited at start: $(tail -n 5 "$WORK/vcsim.log")"
  sleep 0.2
done
[[ -n $url ]] || die "vcsim printed no GOVC_URL within 30 s"
export GOVC_URL=${url#GOVC_URL=} GOVC_INSECURE=1 GOVMOMI_HOME=$WORK/govmomi
export GOVC_DATASTORE=LocalDS_0 GOVC_RESOURCE_POOL=/DC0/host/DC0_C0/Resources

VM=veba-vcsim-import
VM_NAME=$VM POWER_ON=0 OPTIONS_OUT=$WORK/options.json GOVC=$GOVC_BIN \
  bash "$ROOT/scripts/deploy-govc.sh" "$OVA" "$PROPS"

# vcsim keeps a deployed VM's vApp property values in its ExtraConfig, by key.
"$GOVC_BIN" vm.info -e -json "$VM" >"$WORK/info.json"
problems=$(jq -r --slurpfile info "$WORK/info.json" '
  ($info[0].VirtualMachines[0].Config.ExtraConfig // [] | map({(.Key): .Value}) | add // {}) as $got
  | .PropertyMapping[]
  | select(($got[.Key] // null) != .Value)
  | "\(.Key): asked \(if (.Key | test("password|secret|private_key")) then "(secret)" else .Value end), read back \(if ($got[.Key] // null) == null then "nothing" elif (.Key | test("password|secret|private_key")) then "another value" else $got[.Key] end)"' \
  "$WORK/options.json")
[[ -z $problems ]] || die "vApp properties that did not come back:
$problems"
count=$(jq '.PropertyMapping | length' "$WORK/options.json")
((count > 0)) || die "the OVA has no vApp properties"
echo "vcsim-import-ova: $OVA imported into vcsim as $VM; all $count vApp properties read back as asked"
