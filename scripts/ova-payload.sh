#!/usr/bin/env bash
# Assembles the payload packer uploads into the build VM (what packer/scripts/10-unpack.sh
# unpacks): the first-boot agent, the units, the provisioning helpers, Knative's namespace and
# Broker, bom.json and the router's OCI image. Used by scripts/build-ova.sh, and by the
# provisioning dry run with stand-in binaries.
#   ova-payload.sh OUT.tar.gz FIRSTBOOT_BINARY ROUTER_IMAGE_TAR
set -euo pipefail
(($# == 3)) || { echo "usage: $0 OUT.tar.gz FIRSTBOOT_BINARY ROUTER_IMAGE_TAR" >&2; exit 2; }
out=$1 firstboot=$2 image=$3
for f in "$firstboot" "$image"; do
  [[ -f $f ]] || { echo "error: $f does not exist" >&2; exit 2; }
done
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
P=$WORK/payload
mkdir -p "$P"/{bin,systemd,images,lib,files,manifests}
install -m 0755 "$firstboot" "$P/bin/firstboot"
install -m 0644 "$ROOT/firstboot/systemd/firstboot.service" "$ROOT/packer/files/k3s.service" \
  "$ROOT/packer/files/ssh-host-keys.service" "$P/systemd/"
install -m 0644 "$ROOT/packer/files/config-network.yaml" "$P/files/"
install -m 0644 "$ROOT"/packer/scripts/lib/* "$P/lib/"
cp -r "$ROOT/manifests/knative" "$P/manifests/"
install -m 0644 "$ROOT/packer/bom.json" "$P/bom.json"
install -m 0644 "$image" "$P/images/event-router.tar"
tar -czf "$out" -C "$P" .
