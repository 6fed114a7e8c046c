#!/usr/bin/env bash
# The first-boot VM test's machine (tests/e2e/first_boot_vm.rs): a Debian bookworm disk image
# carrying the appliance's own parts as the appliance build installs them (firstboot and its
# unit, the SSH host-key unit, the release file), the router as a systemd service
# (router/systemd/event-router.service) and, under k3s's name, a stand-in that serves the part
# of the Kubernetes API firstboot uses (tests/vm/). Photon OS and k3s cannot be downloaded here:
# what only they show is left to the appliance build's CI (.github/workflows).
#
#   scripts/vm-image.sh OUT_DIR
#
# Writes OUT_DIR/disk.raw (ext4, no partition table: root=/dev/vda), OUT_DIR/vmlinuz and
# OUT_DIR/initrd.img (Debian's kernel and initramfs, booted directly by QEMU) and
# OUT_DIR/id_ed25519 (the test's SSH key, authorized for root in the image). Built without
# loop mounts or root-only tools beyond mmdebstrap: the Debian system is a tarball cached in
# VM_CACHE (default ~/.cache/event-broker-appliance/vm, keyed by its package list), unpacked,
# the parts added, and `mkfs.ext4 -d` makes the image (seconds).
# Binaries: FIRSTBOOT_BIN and ROUTER_BIN (default target/debug/firstboot and event-router).
# Needs mmdebstrap, e2fsprogs, ssh-keygen, systemctl (scripts/install-test-tools.sh).
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
OUT=${1:?usage: scripts/vm-image.sh OUT_DIR}
CACHE=${VM_CACHE:-$HOME/.cache/event-broker-appliance/vm}
FIRSTBOOT_BIN=${FIRSTBOOT_BIN:-$ROOT/target/debug/firstboot}
ROUTER_BIN=${ROUTER_BIN:-$ROOT/target/debug/event-router}
SUITE=bookworm
# What a Photon OS appliance has that firstboot drives: systemd with networkd, resolved and
# timesyncd, OpenSSH, rsyslog; python3 runs the k3s stand-in, curl the test's checks.
PACKAGES=(systemd-sysv udev linux-image-amd64 openssh-server iproute2 systemd-timesyncd
  systemd-resolved rsyslog python3 procps curl ca-certificates)
# Bump when the steps that make the cached tarball change.
RECIPE=1
DISK_SIZE=3G

log() { printf '==> vm-image: %s\n' "$*" >&2; }
die() { printf 'vm-image: %s\n' "$*" >&2; exit 1; }

for tool in mmdebstrap mkfs.ext4 ssh-keygen systemctl tar; do
  command -v "$tool" >/dev/null || die "missing $tool (scripts/install-test-tools.sh installs it)"
done
for bin in "$FIRSTBOOT_BIN" "$ROUTER_BIN"; do
  [[ -x $bin ]] || die "no binary at $bin: run cargo build first (make test does)"
done
mkdir -p "$OUT" "$CACHE"

key=$(printf '%s\n' "$SUITE" "${PACKAGES[@]}" "recipe=$RECIPE" | sha256sum | cut -c1-16)
base=$CACHE/debian-$SUITE-$key.tar
if [[ ! -f $base || ! -s $base ]]; then
  log "building the Debian $SUITE system (mmdebstrap, about 2 minutes; cached in $base)"
  rm -rf "$CACHE"/debian-"$SUITE"-*
  # mmdebstrap picks the output format from the name: keep .tar at the end.
  partial=${base%.tar}.partial.tar
  mmdebstrap --quiet --variant=apt --include="$(IFS=,; echo "${PACKAGES[*]}")" "$SUITE" "$partial"
  mv "$partial" "$base"
fi

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/vm-rootfs.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
tar -C "$rootfs" -xf "$base"

# The appliance's parts, from the same files the appliance build installs
# (packer/scripts/50-appliance.sh, 20-os.sh).
install -m 0755 "$FIRSTBOOT_BIN" "$rootfs/usr/local/bin/firstboot"
install -m 0755 "$ROUTER_BIN" "$rootfs/usr/local/bin/event-router"
install -m 0644 "$ROOT/firstboot/systemd/firstboot.service" "$rootfs/etc/systemd/system/firstboot.service"
install -m 0644 "$ROOT/packer/files/ssh-host-keys.service" "$rootfs/etc/systemd/system/ssh-host-keys.service"
install -m 0644 "$ROOT/router/systemd/event-router.service" "$rootfs/etc/systemd/system/event-router.service"
install -D -m 0644 "$ROOT/router/systemd/event-router.sysusers.conf" "$rootfs/etc/sysusers.d/event-router.conf"
# The router's console shows the appliance's facts, as the appliance's Deployment sets them.
mkdir -p "$rootfs/etc/systemd/system/event-router.service.d"
cat >"$rootfs/etc/systemd/system/event-router.service.d/appliance.conf" <<'CONF'
[Service]
Environment=EVENT_ROUTER_FIRSTBOOT_STATUS=/var/lib/firstboot/status.json
Environment=EVENT_ROUTER_RELEASE_FILE=/etc/event-broker-release
CONF
install -D -m 0644 "$ROOT/tests/vm/k3s_standin.py" "$rootfs/usr/local/lib/k3s-standin/k3s_standin.py"
install -m 0644 "$ROOT/tests/vm/k3s.service" "$rootfs/etc/systemd/system/k3s.service"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1)
commit=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
printf 'Product: Event Broker Appliance (first-boot VM test image)\nVersion: %s\nCommit: %s\n' \
  "$version" "$commit" >"$rootfs/etc/event-broker-release"

# Photon's unit name for sshd (see tests/vm/sshd.service); no host keys in the image.
rm -f "$rootfs/etc/systemd/system/sshd.service"
install -m 0644 "$ROOT/tests/vm/sshd.service" "$rootfs/etc/systemd/system/sshd.service"
systemctl --root="$rootfs" --quiet disable ssh.service ssh.socket 2>/dev/null || true
systemctl --root="$rootfs" --quiet mask ssh.service
rm -f "$rootfs"/etc/ssh/ssh_host_*

# As on the appliance: firstboot enables what its properties ask for; rsyslog only with a
# syslog server; networkd and resolved manage the network.
systemctl --root="$rootfs" --quiet enable firstboot.service ssh-host-keys.service sshd.service \
  systemd-networkd.service systemd-resolved.service
systemctl --root="$rootfs" --quiet disable rsyslog.service 2>/dev/null || true
ln -sf ../run/systemd/resolve/stub-resolv.conf "$rootfs/etc/resolv.conf"

# The test logs in with its own key (the root password is the OVF property's, set by firstboot).
[[ -s $OUT/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C vm-test -f "$OUT/id_ed25519"
install -D -m 0600 "$OUT/id_ed25519.pub" "$rootfs/root/.ssh/authorized_keys"
chmod 0700 "$rootfs/root/.ssh"

# Photon OS's own fallback (its image ships 99-dhcp-en.network): DHCP on every Ethernet link
# until firstboot's 10-appliance.network, which sorts first, takes over.
mkdir -p "$rootfs/etc/systemd/network"
printf '[Match]\nName=e*\n\n[Network]\nDHCP=yes\nIPv6AcceptRA=no\n' >"$rootfs/etc/systemd/network/99-dhcp-en.network"

echo vm-test >"$rootfs/etc/hostname"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$rootfs/etc/fstab"

kernels=("$rootfs"/boot/vmlinuz-*)
initrds=("$rootfs"/boot/initrd.img-*)
((${#kernels[@]} == 1 && ${#initrds[@]} == 1)) || die "expected one kernel and one initrd in the image"
cp "${kernels[0]}" "$OUT/vmlinuz"
cp "${initrds[0]}" "$OUT/initrd.img"
rm -f "$OUT/disk.raw"
truncate -s "$DISK_SIZE" "$OUT/disk.raw"
mkfs.ext4 -q -F -L root -d "$rootfs" "$OUT/disk.raw"
log "wrote $OUT/disk.raw ($version, $commit)"
