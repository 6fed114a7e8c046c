#!/usr/bin/env bash
# Offline check of the packer template with Debian's packer 1.6.6: `packer fmt -check` on every
# file, and `packer validate` of both sources (qemu with the build's variables, vsphere-iso also
# with vsphere.example.pkrvars.hcl). packer 1.6.6 rejects required_plugins, which current packer
# needs, so the check validates a copy made by packer16-template.sh. Also: the boot command fits the
# firmware's boot loader (check-boot-command.py). No network, no vCenter.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export HOME=$WORK/home CHECKPOINT_DISABLE=1 PACKER_CACHE_DIR=$WORK/cache
command -v packer >/dev/null || { echo "packer is not installed (Debian: apt-get install packer)" >&2; exit 1; }

packer fmt -check -diff "$ROOT/packer"
python3 "$ROOT/scripts/check-boot-command.py" "$ROOT/packer/sources.pkr.hcl"

mkdir -p "$WORK/artifacts/http"
bash "$ROOT/scripts/packer16-template.sh" "$WORK/packer"
# Stand-ins for what scripts/build-ova.sh prepares (packer checks that they exist).
: >"$WORK/artifacts/payload.tar.gz"
cp "$ROOT/packer/http/ks.json" "$WORK/artifacts/http/ks.json"
vars=(-var version=0.0.0-check -var commit=check -var build_password=check-only-password
  -var "artifacts_dir=$WORK/artifacts")

packer validate -only=qemu.photon "${vars[@]}" "$WORK/packer"
packer validate -only=vsphere-iso.photon "${vars[@]}" -var-file="$ROOT/packer/vsphere.example.pkrvars.hcl" \
  "$WORK/packer"
echo "packer $(packer version | head -n1): fmt -check and validate (qemu, vsphere-iso) passed"
