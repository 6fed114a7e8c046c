#!/usr/bin/env bash
# Builds the appliance OVA: `make ova` (qemu, on a Linux runner with KVM) or
# `make ova SOURCE=vsphere-iso` (on a vCenter: set the vcenter_* variables in
# packer/vsphere.auto.pkrvars.hcl or as PKR_VAR_vcenter_server=... in the environment).
#
# Steps: release binaries (event-router, firstboot, ova) -> the router's OCI image (umoci) ->
# the payload packer uploads -> the kickstart with a random build-only root password ->
# `packer build` (Photon OS 5 from the ISO, provisioning scripts, then `ova build`).
# Output: dist/event-broker-appliance_<version>.ova and its .sha256.
# Needs internet (Photon ISO and packages, k3s, Knative), packer (1.6.6 from Debian, or >= 1.7
# with `packer init`), cargo, umoci, jq, qemu-img, openssl, git; for qemu also qemu-system-x86_64.
# Environment: ALLOW_DIRTY=1 builds from uncommitted changes (the OVA says "-dirty");
# BOM_STRICT=1 refuses artefacts bom.json does not pin; QEMU_ACCELERATOR=tcg without KVM.
set -euo pipefail

die() { printf 'build-ova: %s\n' "$*" >&2; exit 1; }

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
SOURCE=${1:-qemu}
case $SOURCE in
  qemu | vsphere-iso) ;;
  *) die "unknown source '$SOURCE': use qemu (Linux with KVM) or vsphere-iso (a vCenter)" ;;
esac
need=(packer cargo umoci jq qemu-img tar openssl git)
[[ $SOURCE == qemu ]] && need+=(qemu-system-x86_64)
for tool in "${need[@]}"; do
  command -v "$tool" >/dev/null || die "$tool is not installed (see the README's 'Build the OVA')"
done
if [[ $SOURCE == qemu && ${QEMU_ACCELERATOR:-kvm} == kvm && ! -w /dev/kvm ]]; then
  die "/dev/kvm is missing or not writable: run on a runner with KVM, or set QEMU_ACCELERATOR=tcg (slow)"
fi

cd "$ROOT"
COMMIT=$(git rev-parse --short=12 HEAD)
if [[ -n $(git status --porcelain --untracked-files=no) ]]; then
  [[ ${ALLOW_DIRTY:-0} == 1 ]] || die "uncommitted changes: commit them (the OVA names its commit) or set ALLOW_DIRTY=1"
  COMMIT=$COMMIT-dirty
fi

cargo build --release --locked -p event-router -p firstboot -p ovf
# They run on Photon OS 5 (glibc 2.36): refuse binaries linked against a newer glibc.
bash scripts/check-glibc.sh target/release/event-router target/release/firstboot
VERSION=$(target/release/event-router --version | awk '{print $2}')

ART=$ROOT/.build/ova
rm -rf "$ART"
mkdir -p "$ART/http"
trap 'rm -f "$ART/http/ks.json"' EXIT
bash scripts/build-router-image.sh target/release/event-router "$ART/event-router.tar"
bash scripts/ova-payload.sh "$ART/payload.tar.gz" target/release/firstboot "$ART/event-router.tar"
install -m 0755 target/release/ova "$ART/ova"

PKR_VAR_build_password=$(openssl rand -hex 16)
export PKR_VAR_build_password
(umask 077 && jq --arg pw "$PKR_VAR_build_password" '.password.text = $pw' packer/http/ks.json >"$ART/http/ks.json")

export CHECKPOINT_DISABLE=${CHECKPOINT_DISABLE:-1}
TEMPLATE=$ROOT/packer
packer_version=$(packer version | head -n1 | sed -E 's/^Packer v?([0-9]+)\.([0-9]+).*/\1 \2/')
read -r major minor <<<"$packer_version"
if ((major == 1 && minor < 7)); then
  # packer 1.6 has the builders built in and rejects required_plugins: build from a copy without it.
  TEMPLATE=$ART/packer
  bash scripts/packer16-template.sh "$TEMPLATE"
else
  packer init "$TEMPLATE"
fi

export PKR_VAR_version=$VERSION PKR_VAR_commit=$COMMIT PKR_VAR_artifacts_dir=$ART PKR_VAR_output_dir=$ROOT/dist
[[ -n ${QEMU_ACCELERATOR:-} ]] && export PKR_VAR_qemu_accelerator=$QEMU_ACCELERATOR
[[ ${BOM_STRICT:-0} == 1 ]] && export PKR_VAR_bom_strict=true
# packer refuses an existing output folder: a second run starts from a clean one.
case $SOURCE in
  qemu) rm -rf dist/qemu ;;
  vsphere-iso) rm -rf dist/vsphere ;;
esac
rm -f "dist/event-broker-appliance_$VERSION.ova" "dist/event-broker-appliance_$VERSION.ova.sha256"
mkdir -p dist
packer build -only="$SOURCE.photon" "$TEMPLATE"
