#!/usr/bin/env bash
# Builds the router's container image as an OCI archive, without a Docker daemon (umoci only):
# one layer with the binary, the shared libraries it links (found with ldd, so a glibc build
# works without a base image), the CA bundle for TLS to vCenter and AWS, and /etc/passwd with
# the non-root user 65532. Entrypoint: the binary. k3s imports the archive from its agent images
# folder (the image is named by the io.containerd.image.name annotation); for a registry:
#   skopeo copy oci-archive:OUT docker://registry.example.com/event-router:VERSION
#
# Usage: scripts/build-router-image.sh BINARY OUT.tar [IMAGE_NAME]
#   IMAGE_NAME defaults to localhost/event-router:<the binary's --version>, the name the
#   appliance's Deployment uses.
# Needs: umoci, jq, ldd, tar.
set -euo pipefail

die() { printf 'build-router-image: %s\n' "$*" >&2; exit 1; }

(($# == 2 || $# == 3)) || die "usage: $0 BINARY OUT.tar [IMAGE_NAME]"
BINARY=$1
OUT=$2
for tool in umoci jq ldd tar; do
  command -v "$tool" >/dev/null || die "$tool is not installed (Debian: apt-get install umoci jq libc-bin tar)"
done
[[ -f $BINARY && -x $BINARY ]] || die "$BINARY is not an executable file (build it: cargo build --release -p event-router)"
[[ -d $(dirname -- "$OUT") ]] || die "the folder of $OUT does not exist"
VERSION=$("$BINARY" --version | awk '{print $2}') || die "$BINARY --version failed"
[[ -n $VERSION ]] || die "$BINARY --version printed no version"
IMAGE=${3:-localhost/event-router:$VERSION}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[[ -f $CA_BUNDLE ]] || die "no CA bundle at $CA_BUNDLE (Debian: apt-get install ca-certificates, or set CA_BUNDLE)"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK" "$OUT.partial"' EXIT
LAYOUT=$WORK/oci
BUNDLE=$WORK/bundle
TAG=build
ROOTLESS=()
((EUID == 0)) || ROOTLESS=(--rootless)

umoci init --layout "$LAYOUT"
umoci new --image "$LAYOUT:$TAG"
umoci unpack "${ROOTLESS[@]}" --image "$LAYOUT:$TAG" "$BUNDLE"
ROOTFS=$BUNDLE/rootfs

install -D -m 0755 "$BINARY" "$ROOTFS/usr/local/bin/event-router"
# Every library the binary loads, and the loader, at the paths the binary asks for.
while read -r lib; do
  [[ -f $lib ]] || die "ldd names $lib but it does not exist"
  install -D -m 0755 "$(readlink -f "$lib")" "$ROOTFS$lib"
done < <(ldd "$BINARY" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
install -D -m 0644 "$CA_BUNDLE" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
install -d -m 1777 "$ROOTFS/tmp"
install -d -m 0755 "$ROOTFS/var/lib/event-router/checkpoints"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  >"$ROOTFS/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$ROOTFS/etc/group"

umoci repack --image "$LAYOUT:$TAG" "$BUNDLE"
umoci config --image "$LAYOUT:$TAG" --tag "$IMAGE" \
  --os linux --architecture amd64 \
  --config.entrypoint /usr/local/bin/event-router \
  --config.cmd --config \
  --config.cmd /etc/event-router/config.yaml \
  --config.user 65532:65532 \
  --config.workingdir / \
  --config.exposedports 8082/tcp \
  --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --config.label "org.opencontainers.image.title=event-router" \
  --config.label "org.opencontainers.image.version=$VERSION"
umoci rm --image "$LAYOUT:$TAG"
umoci gc --layout "$LAYOUT"

# containerd (k3s's image import) names an imported image by this annotation.
jq --arg name "$IMAGE" '.manifests |= map(.annotations["io.containerd.image.name"] = $name)' \
  "$LAYOUT/index.json" >"$WORK/index.json"
mv "$WORK/index.json" "$LAYOUT/index.json"

tar --sort=name --owner=0 --group=0 --numeric-owner -C "$LAYOUT" -cf "$OUT.partial" .
mv "$OUT.partial" "$OUT"
printf 'built %s (%s, %s bytes)\n' "$OUT" "$IMAGE" "$(stat -c %s "$OUT")"
