#!/usr/bin/env bash
# Checks the packer template: `packer fmt -check` on every file, the plugin pins
# (check-plugin-pins.py), the boot command against the firmware's boot loader
# (check-boot-command.py), and `packer validate` of both sources (qemu with the build's variables,
# vsphere-iso also with vsphere.example.pkrvars.hcl). Stand-ins take the place of what
# scripts/build-ova.sh prepares. No vCenter.
#   check-packer.sh            offline, with Debian's packer 1.6.6 (`make lint`): it rejects
#                              required_plugins and does not know every argument the plugins take,
#                              so it validates the copy packer16-template.sh makes
#   check-packer.sh --current  with packer >= 1.7 and the pinned plugins (`packer init` downloads
#                              them): the whole template, as the OVA workflow's first job runs it
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
CURRENT=0
case ${1:-} in
  "") ;;
  --current) CURRENT=1 ;;
  *) echo "usage: $0 [--current]" >&2; exit 2 ;;
esac
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export CHECKPOINT_DISABLE=1 PACKER_CACHE_DIR=$WORK/cache
# Offline, packer's plugin folder and config stay in the throwaway folder; --current keeps the
# runner's, where packer init installs the plugins.
((CURRENT)) || export HOME=$WORK/home
command -v packer >/dev/null || { echo "packer is not installed (Debian: apt-get install packer)" >&2; exit 1; }

packer fmt -check -diff "$ROOT/packer"
python3 "$ROOT/scripts/check-plugin-pins.py" "$ROOT/packer/plugins.pkr.hcl"
python3 "$ROOT/scripts/check-boot-command.py" "$ROOT/packer/sources.pkr.hcl"

if ((CURRENT)); then
  read -r major minor < <(packer version | head -n1 | sed -E 's/^Packer v?([0-9]+)\.([0-9]+).*/\1 \2/')
  ((major > 1 || minor >= 7)) || { echo "--current needs packer >= 1.7, this is $(packer version | head -n1)" >&2; exit 1; }
  mkdir -p "$WORK/packer"
  cp -r "$ROOT/packer/." "$WORK/packer/"
  rm -f "$WORK/packer"/*.auto.pkrvars.hcl
  packer init "$WORK/packer"
else
  bash "$ROOT/scripts/packer16-template.sh" "$WORK/packer"
fi
mkdir -p "$WORK/artifacts/http"
# Stand-ins for what scripts/build-ova.sh prepares (packer checks that they exist).
: >"$WORK/artifacts/payload.tar.gz"
cp "$ROOT/packer/http/ks.json" "$WORK/artifacts/http/ks.json"
vars=(-var version=0.0.0-check -var commit=check -var build_password=check-only-password
  -var "artifacts_dir=$WORK/artifacts")

packer validate -only=qemu.photon "${vars[@]}" "$WORK/packer"
packer validate -only=vsphere-iso.photon "${vars[@]}" -var-file="$ROOT/packer/vsphere.example.pkrvars.hcl" \
  "$WORK/packer"
echo "packer $(packer version | head -n1): fmt -check and validate (qemu, vsphere-iso) passed"
