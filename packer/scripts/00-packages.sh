#!/usr/bin/env bash
# Packages, first, on the bare Photon OS 5 minimal install: the package repositories pointed at
# the host Photon serves them from now (PHOTON_REPO_HOST, bom.json's photon.repo_host), the
# update (build.pkr.hcl reboots into its kernel next), every package the later scripts and the
# appliance use (Photon minimal has no tar, cmp, jq or zstd; packer/tests/photon5-minimal-commands.txt
# lists what it has), and out with what the appliance does not use: docker (k3s brings its own
# containerd) and cloud-init (it would configure the network that firstboot owns).
set -euo pipefail
: "${PHOTON_REPO_HOST:?PHOTON_REPO_HOST must name the Photon package host (bom.json photon.repo_host)}"

# The 5.0 GA install's repository files (vmware/photon 5.0-GA, SPECS/photon-repos/*.repo) name
# packages.vmware.com, which Photon left for packages.broadcom.com with the same paths
# (vmware/photon#1645; vmware/ansible-vsphere-gos-validation, linux/utils/photon_config_repo.yml,
# rewrites them the same way). photon-repos ships them %config(noreplace), so the update below
# keeps this edit. skip_if_unavailable=1 (their default) makes tdnf disable a repository that does
# not answer and carry on (vmware/tdnf v3.5.2, client/init.c): `tdnf update` would quietly do
# nothing and the install fail later. With 0, an unreachable repository stops the build here.
repos=(/etc/yum.repos.d/*.repo)
[[ -e ${repos[0]} ]] || { echo "error: no repository files in /etc/yum.repos.d" >&2; exit 1; }
sed -i -E \
  -e "s#^([[:space:]]*baseurl[[:space:]]*=[[:space:]]*https?://)[^/]+/photon/#\\1${PHOTON_REPO_HOST}/photon/#" \
  -e 's/^([[:space:]]*skip_if_unavailable[[:space:]]*=).*/\10/' "${repos[@]}"
mapfile -t enabled < <(grep -lE '^[[:space:]]*enabled[[:space:]]*=[[:space:]]*(1|[Tt]rue|[Yy]es)[[:space:]]*$' "${repos[@]}" || true)
((${#enabled[@]} > 0)) || { echo "error: no package repository is enabled in /etc/yum.repos.d: tdnf could install nothing" >&2; exit 1; }
echo "enabled repositories: ${enabled[*]}"
tdnf -y makecache

tdnf -y update
# Named here, not left to the minimal metapackage: removing docker or cloud-init below removes
# minimal too (vmware/photon 5.0-GA, SPECS/minimal/minimal.spec requires both), and what only
# minimal or docker required (gawk, iproute2, rpm, openssh-server) would stay installed as a
# leftover no package asks for. gawk (awk), findutils (find, xargs), iproute2 (ip) and
# util-linux (umount) are what the scripts use; openssh-server is how packer and, with
# guestinfo.enable_ssh, the appliance's users log in. The dry run (scripts/provision-dry-run.py)
# fails on a command whose package nothing named keeps.
tdnf -y install tar gzip jq zstd curl diffutils procps-ng open-vm-tools rsyslog logrotate sudo \
  gawk findutils iproute2 util-linux openssh-server
# rpm too is kept only by minimal: ask it before the first removal takes minimal away.
present=()
# docker is a metapackage (docker-engine, docker-cli; docker-engine needs containerd: vmware/photon
# 5.0 SPECS/docker/docker.spec) and tdnf keeps what a removed package required
# (clean_requirements_on_remove=0 in tdnf's tdnf.conf), so each is named. k3s brings its own
# containerd.
for pkg in docker docker-engine docker-cli containerd cloud-init; do
  if rpm -q "$pkg" >/dev/null 2>&1; then
    present+=("$pkg")
  fi
done
for pkg in "${present[@]}"; do
  tdnf -y remove "$pkg"
done

# The update's initramfs triggers ran Photon's mkinitrd on this booted system, which makes a
# host-only initrd: only this build VM's storage drivers (pvscsi on vSphere, virtio_scsi under
# QEMU) (vmware/photon 5.0, SPECS/initramfs/initramfs.spec; SPECS/dracut/0004-fix-hostonly.patch:
# generic only in a chroot or a container). An OVA built on vSphere would then not boot on
# another controller, the smoke test's QEMU among them: regenerate every kernel's initrd generic.
# Photon names them /boot/vmlinuz-<uname -r> and /boot/initrd.img-<uname -r> (SPECS/linux/linux.spec).
kernels=0
for kernel in /boot/vmlinuz-*; do
  [[ -f $kernel ]] || continue
  kver=${kernel#/boot/vmlinuz-}
  dracut --force --no-hostonly "/boot/initrd.img-$kver" "$kver"
  kernels=$((kernels + 1))
done
((kernels > 0)) || { echo "error: no /boot/vmlinuz-* to regenerate an initrd for" >&2; exit 1; }
tdnf clean all
