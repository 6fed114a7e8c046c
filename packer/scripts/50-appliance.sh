#!/usr/bin/env bash
# The appliance itself: the first-boot agent and its unit, the router image for k3s to import,
# VEBA's functions namespace with Broker `default`, SSH host keys made at first boot, k3s's image
# import cache.
set -euo pipefail
: "${PAYLOAD:?}"

install -m 0755 "$PAYLOAD/bin/firstboot" /usr/local/bin/firstboot
install -m 0644 "$PAYLOAD/systemd/firstboot.service" /etc/systemd/system/firstboot.service
install -m 0644 "$PAYLOAD/systemd/ssh-host-keys.service" /etc/systemd/system/ssh-host-keys.service
install -D -m 0644 "$PAYLOAD/images/event-router.tar" /var/lib/rancher/k3s/agent/images/event-router.tar
# With .cache.json present, k3s records each tarball's size and time after importing it and
# skips unchanged ones at the next start; without it, it re-imports every tarball at every boot
# and the kubelet waits for that (k3s-io/k3s, pkg/agent/containerd/watcher.go: the cache is
# only written to a file that exists, and only for a tarball whose import succeeded, which is
# why 40-knative.sh exports its images by tag).
echo '{}' >/var/lib/rancher/k3s/agent/images/.cache.json

# manifests/knative from the repository: Namespace vmware-functions and its Broker.
{
  echo "# From the appliance build (manifests/knative): VEBA's functions namespace and Broker."
  first=1
  for f in "$PAYLOAD"/manifests/knative/*.yaml; do
    [[ $(basename "$f") == kustomization.yaml ]] && continue
    ((first)) || echo '---'
    first=0
    cat "$f"
  done
} >/var/lib/rancher/k3s/server/manifests/40-vmware-functions.yaml
chmod 0600 /var/lib/rancher/k3s/server/manifests/40-vmware-functions.yaml

systemctl daemon-reload
systemctl enable firstboot.service ssh-host-keys.service
systemctl disable k3s.service 2>/dev/null || true
firstboot --version
