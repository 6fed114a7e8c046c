#!/usr/bin/env bash
# Packages, first, on the bare Photon OS 5 minimal install: the update (build.pkr.hcl reboots
# into its kernel next), every package the later scripts and the appliance use (Photon minimal
# has no tar, cmp, jq or zstd; packer/tests/photon5-minimal-commands.txt lists what it has), and
# out with what the appliance does not use: docker (k3s brings its own containerd) and cloud-init
# (it would configure the network that firstboot owns).
set -euo pipefail

tdnf -y update
tdnf -y install tar gzip jq zstd curl diffutils procps-ng open-vm-tools rsyslog logrotate sudo
for pkg in docker cloud-init; do
  if rpm -q "$pkg" >/dev/null 2>&1; then
    tdnf -y remove "$pkg"
  fi
done
tdnf clean all
