#!/usr/bin/env bash
# Deploys the appliance OVA with govc: `govc import.spec` gives the OVA's options, the values
# from a properties file go into its PropertyMapping, the network is mapped, and
# `govc import.ova -options` deploys it (powered on).
#
# Usage: scripts/deploy-govc.sh OVA PROPERTIES_FILE
#   PROPERTIES_FILE  a copy of scripts/appliance.properties.example with your values
# Environment: govc's own (GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD, GOVC_INSECURE,
# GOVC_DATACENTER, GOVC_DATASTORE, GOVC_RESOURCE_POOL, GOVC_FOLDER), NETWORK (port group,
# default "VM Network"), VM_NAME (default: the hostname's first label), POWER_ON=0 (leave it
# off), GOVC (default: govc), OPTIONS_OUT=FILE (also keep the options file; it holds secrets).
# Needs govc and jq.
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=scripts/lib-properties.sh
source "$HERE/lib-properties.sh"

(($# == 2)) || { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
OVA=$1 PROPS=$2
GOVC=${GOVC:-govc}
for tool in "$GOVC" jq; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
[[ -f $OVA ]] || { echo "error: no OVA at $OVA" >&2; exit 2; }
read_properties "$PROPS"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
chmod 700 "$WORK"
"$GOVC" import.spec "$OVA" >"$WORK/spec.json"

# The values as a JSON object; every key must be one the OVA has (a typo would be dropped).
printf '{}' >"$WORK/values.json"
hostname=""
for i in "${!PROP_KEYS[@]}"; do
  key=${PROP_KEYS[$i]}
  if ! jq -e --arg k "$key" 'any(.PropertyMapping[]; .Key == $k)' "$WORK/spec.json" >/dev/null; then
    echo "error: $PROPS sets $key, which the OVA does not have (check the spelling against scripts/appliance.properties.example)" >&2
    exit 2
  fi
  [[ $key == guestinfo.hostname ]] && hostname=${PROP_VALUES[$i]}
  jq --arg k "$key" --arg v "${PROP_VALUES[$i]}" '. + {($k): $v}' "$WORK/values.json" >"$WORK/values.new"
  mv "$WORK/values.new" "$WORK/values.json"
done
[[ -n $hostname ]] || { echo "error: $PROPS sets no guestinfo.hostname (required)" >&2; exit 2; }
VM_NAME=${VM_NAME:-${hostname%%.*}}

(umask 077 && jq --slurpfile values "$WORK/values.json" --arg net "${NETWORK:-VM Network}" \
  --arg name "$VM_NAME" --argjson power "$([[ ${POWER_ON:-1} == 1 ]] && echo true || echo false)" '
  .Name = $name
  | .PowerOn = $power
  | .DiskProvisioning = "thin"
  | .PropertyMapping |= map(.Key as $k | if $values[0] | has($k) then .Value = $values[0][$k] else . end)
  | .NetworkMapping |= map(.Network = $net)' "$WORK/spec.json" >"$WORK/options.json")
[[ -n ${OPTIONS_OUT:-} ]] && install -m 0600 "$WORK/options.json" "$OPTIONS_OUT"

"$GOVC" import.ova -options="$WORK/options.json" -name="$VM_NAME" "$OVA"
echo "deployed $VM_NAME from $OVA"
