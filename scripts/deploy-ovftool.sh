#!/usr/bin/env bash
# Deploys the appliance OVA with VMware's ovftool: every property from a properties file as
# --prop:, the OVF network mapped, thin disks, powered on.
#
# Usage: scripts/deploy-ovftool.sh OVA PROPERTIES_FILE TARGET
#   PROPERTIES_FILE  a copy of scripts/appliance.properties.example with your values
#   TARGET           an ovftool locator, e.g. 'vi://administrator%40vsphere.local@vcenter.corp.local/DC/host/Cluster'
#                    (ovftool asks for the password when the locator has none)
# Environment: NETWORK (port group, required), DATASTORE (required), VM_NAME (default: the
# hostname's first label), FOLDER (VM folder), POWER_ON=0 (do not power on), INSECURE=1 (skip
# vCenter certificate checks), ESXI=1 (deploying to a standalone ESXi host: injects the OVF
# environment), OVFTOOL (default: ovftool), DRY_RUN=1 (print the command, secrets masked).
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=scripts/lib-properties.sh
source "$HERE/lib-properties.sh"

(($# == 3)) || { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
OVA=$1 PROPS=$2 TARGET=$3
[[ -f $OVA ]] || { echo "error: no OVA at $OVA" >&2; exit 2; }
: "${NETWORK:?set NETWORK to the port group the appliance connects to}"
: "${DATASTORE:?set DATASTORE to the datastore for the appliance}"
read_properties "$PROPS"

hostname=""
for i in "${!PROP_KEYS[@]}"; do
  [[ ${PROP_KEYS[$i]} == guestinfo.hostname ]] && hostname=${PROP_VALUES[$i]}
done
[[ -n $hostname ]] || { echo "error: $PROPS sets no guestinfo.hostname (required)" >&2; exit 2; }
VM_NAME=${VM_NAME:-${hostname%%.*}}

args=(--acceptAllEulas --allowExtraConfig --name="$VM_NAME" --datastore="$DATASTORE" --diskMode=thin
  "--net:VM Network=$NETWORK")
[[ -n ${FOLDER:-} ]] && args+=(--vmFolder="$FOLDER")
[[ ${POWER_ON:-1} == 1 ]] && args+=(--powerOn)
[[ ${INSECURE:-0} == 1 ]] && args+=(--noSSLVerify)
[[ ${ESXI:-0} == 1 ]] && args+=(--X:injectOvfEnv)
shown=("${args[@]}")
for i in "${!PROP_KEYS[@]}"; do
  args+=("--prop:${PROP_KEYS[$i]}=${PROP_VALUES[$i]}")
  if is_secret "${PROP_KEYS[$i]}"; then
    shown+=("--prop:${PROP_KEYS[$i]}=********")
  else
    shown+=("--prop:${PROP_KEYS[$i]}=${PROP_VALUES[$i]}")
  fi
done
args+=("$OVA" "$TARGET")
shown+=("$OVA" "$TARGET")

OVFTOOL=${OVFTOOL:-ovftool}
if [[ ${DRY_RUN:-0} == 1 ]]; then
  printf '%q ' "$OVFTOOL" "${shown[@]}"
  echo
  exit 0
fi
command -v "$OVFTOOL" >/dev/null ||
  { echo "error: $OVFTOOL not found: install VMware OVF Tool, or use scripts/deploy-govc.sh" >&2; exit 1; }
exec "$OVFTOOL" "${args[@]}"
