#!/usr/bin/env bash
# k3s, air-gapped: the binary and its own images (agent images folder, imported at every start,
# so first boot needs no internet), kubectl/crictl/ctr for root, and a unit that stays disabled
# (firstboot starts k3s after writing its config).
set -euo pipefail
: "${PAYLOAD:?}"
export BOM=$PAYLOAD/bom.json
# shellcheck source-path=SCRIPTDIR source=lib/fetch.sh
source "$PAYLOAD/lib/fetch.sh"

while IFS=$'\t' read -r name url sha dest mode; do
  fetch "$name" "$url" "$sha" "$dest" "$mode"
done < <(bom_files k3s)

for tool in kubectl crictl ctr; do
  ln -sf /usr/local/bin/k3s "/usr/local/bin/$tool"
done
install -m 0644 "$PAYLOAD/systemd/k3s.service" /etc/systemd/system/k3s.service
mkdir -p /etc/rancher/k3s /var/lib/rancher/k3s/server/manifests
systemctl daemon-reload
systemctl disable k3s.service 2>/dev/null || true
k3s --version
