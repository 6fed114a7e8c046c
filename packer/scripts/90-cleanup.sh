#!/usr/bin/env bash
# Leaves nothing of the build in the image: package caches, logs, the payload, SSH host keys
# (ssh-host-keys.service makes new ones), the machine id (systemd makes a new one), the build's
# root password (locked; first boot sets the one from the OVF properties), and zeroes free space
# so the exported disk compresses well.
set -euo pipefail
: "${PAYLOAD:?}"

tdnf clean all
rm -rf "$PAYLOAD" /tmp/* /var/tmp/* /var/cache/tdnf/*
journalctl --rotate >/dev/null 2>&1 || true
journalctl --vacuum-time=1s >/dev/null 2>&1 || true
find /var/log -type f -exec truncate -s 0 {} +
rm -f /etc/ssh/ssh_host_*
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id
rm -f /etc/systemd/network/99-dhcp-en.network.bak
usermod -p '!' root
rm -f /root/.bash_history
# Zero free space; dd stops with "No space left on device", which is the point.
dd if=/dev/zero of=/zero.fill bs=1M status=none 2>/dev/null || true
rm -f /zero.fill
sync
