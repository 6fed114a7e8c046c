#!/usr/bin/env bash
# packer's post-processor (runs on the build host): turns the built disk into the OVA with
# `ova build` (descriptor from the OVF property schema, streamOptimized VMDK, SHA256 manifest)
# and writes OVA.sha256 beside it.
# Environment (set by build.pkr.hcl): SOURCE_TYPE (qemu | vsphere-iso), OUTPUT_DIR, OVA, OVA_TOOL,
# VM_NAME, VERSION, COMMIT.
set -euo pipefail
for v in SOURCE_TYPE OUTPUT_DIR OVA OVA_TOOL VM_NAME VERSION COMMIT; do
  [[ -n ${!v:-} ]] || { echo "package-ova: $v is not set" >&2; exit 2; }
done
case $SOURCE_TYPE in
  qemu) disk=$OUTPUT_DIR/qemu/$VM_NAME.qcow2 ;;
  vsphere-iso)
    # The exported OVF's disk; its .ovf is replaced by ours.
    disk=$(find "$OUTPUT_DIR/vsphere" -maxdepth 1 -name '*.vmdk' | sort | head -n1)
    ;;
  *) echo "package-ova: unknown source type $SOURCE_TYPE (qemu or vsphere-iso)" >&2; exit 2 ;;
esac
[[ -n $disk && -f $disk ]] || { echo "package-ova: no disk from the $SOURCE_TYPE build in $OUTPUT_DIR" >&2; exit 1; }
"$OVA_TOOL" build --disk "$disk" --out "$OVA" --name "$VM_NAME" --version "$VERSION" --commit "$COMMIT"
(cd "$(dirname "$OVA")" && sha256sum "$(basename "$OVA")" >"$(basename "$OVA").sha256")
echo "OVA: $OVA"
