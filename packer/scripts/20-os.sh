#!/usr/bin/env bash
# Photon OS settings: kernel modules and sysctls k3s needs, VMware Tools' NIC list, sshd
# drop-ins, release file. (Packages: 00-packages.sh.)
set -euo pipefail
: "${APPLIANCE_VERSION:?}" "${APPLIANCE_COMMIT:?}"

# Photon's default firewall drops everything but SSH; k3s manages the rules it needs.
systemctl disable --now iptables 2>/dev/null || true
systemctl enable vmtoolsd
# firstboot enables rsyslog only when a syslog server is configured.
systemctl disable rsyslog

# vCenter shows the address VMware Tools reports: keep k3s's bridges and pod veths out of it,
# as VEBA does (vmware-samples/vcenter-event-broker-appliance, scripts/photon-settings.sh).
mkdir -p /etc/vmware-tools
cat >/etc/vmware-tools/tools.conf <<'CONF'
[guestinfo]
exclude-nics=veth*,vxlan*,flannel*,cni*,kube-ipvs*,datapath
CONF

mkdir -p /etc/modules-load.d /etc/sysctl.d
cat >/etc/modules-load.d/k3s.conf <<'CONF'
br_netfilter
overlay
CONF
cat >/etc/sysctl.d/90-k3s.conf <<'CONF'
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
fs.inotify.max_user_instances = 1024
CONF

# firstboot's sshd settings live in /etc/ssh/sshd_config.d; make sure sshd reads that folder
# first (the first value of a setting wins).
mkdir -p /etc/ssh/sshd_config.d
if ! grep -q '^Include /etc/ssh/sshd_config.d/\*.conf' /etc/ssh/sshd_config; then
  sed -i '1i Include /etc/ssh/sshd_config.d/*.conf' /etc/ssh/sshd_config
fi

mkdir -p /etc/event-broker-appliance
cat >/etc/event-broker-release <<RELEASE
Product: Event Broker Appliance
Version: ${APPLIANCE_VERSION}
Commit: ${APPLIANCE_COMMIT}
RELEASE
