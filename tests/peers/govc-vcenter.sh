#!/usr/bin/env bash
# govc answering `vm.info -json` as vCenter does for an appliance deployed from its OVA, for
# scripts/upgrade.sh's tests: the vApp properties are in Config.VAppConfig.Property (the password
# ones typed `password`), where vcsim 0.24.2 keeps them in ExtraConfig instead (they are moved out
# of it; of a key set twice the last value counts, as vCenter replaces). FAKE_VCENTER_HIDE_PASSWORDS=1
# leaves the password properties' values out, as vCenter may; FAKE_VCENTER_DROP=KEY leaves the
# property KEY out, as an older OVA without it would have. Every other command is $REAL_GOVC's.
set -euo pipefail
real=${REAL_GOVC:?REAL_GOVC is not set}
if [[ ${1:-} != vm.info || " $* " != *" -json "* ]]; then
    exec "$real" "$@"
fi
"$real" "$@" | jq --arg hide "${FAKE_VCENTER_HIDE_PASSWORDS:-0}" --arg drop "${FAKE_VCENTER_DROP:-}" '
  def property: test("^guestinfo\\.[a-z0-9_]+$");
  def secret: test("password|secret");
  .VirtualMachines |= map(
    ([.Config.ExtraConfig // [] | .[] | select(.Key | property) | {(.Key): .Value}] | add // {}) as $props
    | .Config.ExtraConfig |= map(select(.Key | property | not))
    | .Config.VAppConfig = {Property: [$props | to_entries | to_entries[]
        | select(.value.key != $drop)
        | {Key: .key, ClassId: "", InstanceId: "", Id: .value.key, Category: "", Label: .value.key,
           Type: (if .value.key | secret then "password" else "string" end),
           UserConfigurable: true, DefaultValue: "",
           Value: (if $hide == "1" and (.value.key | secret) then "" else .value.value end),
           Description: ""}]})'
