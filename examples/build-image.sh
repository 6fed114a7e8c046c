#!/usr/bin/env bash
# Builds an example function's container image as an OCI archive, without a Docker daemon (umoci
# and skopeo only), like scripts/build-router-image.sh does for the router.
#
#   examples/build-image.sh rust BINARY OUT.tar IMAGE_NAME
#     One layer on an empty base: the binary at /usr/local/bin/<its name>, the shared libraries it
#     links (found with ldd, so a glibc build works without a base image), the CA bundle (for
#     https to Slack or vCenter) and /etc/passwd with the non-root user 65532.
#       cargo build --release -p slack-alarm
#       examples/build-image.sh rust target/release/slack-alarm slack-alarm.tar registry.example.com/slack-alarm:0.1.0
#
#   examples/build-image.sh python FUNCTION_DIR BASE OUT.tar IMAGE_NAME
#     BASE (a Python 3 image, e.g. the official python:3.12-slim) plus one layer with
#     FUNCTION_DIR's handler.py and its requirements.txt installed for BASE's Python (pip
#     --target, wheels only, from PyPI or what PIP_EXTRA_ARGS names, e.g. "--no-index
#     --find-links DIR" for a wheelhouse) under /app. BASE is anything skopeo reads, for example
#     an OCI archive made where a registry is reachable:
#       skopeo copy docker://docker.io/library/python:3.12-slim oci-archive:python-3.12-slim.tar
#       examples/build-image.sh python examples/vrops-maintenance oci-archive:python-3.12-slim.tar \
#         vrops-maintenance.tar registry.example.com/vrops-maintenance:0.1.0
#     BASE's Python version is read from its PYTHON_VERSION environment variable (the official
#     images set it); set PYTHON_VERSION=3.12 here for a base that does not.
#
# Both: the function listens on PORT (8080, as Knative sets it), runs as 65532:65532, and the
# archive names the image (io.containerd.image.name) so k3s imports it under IMAGE_NAME; to push:
#   skopeo copy oci-archive:OUT.tar docker://IMAGE_NAME
# Needs: umoci, skopeo, jq, tar; rust: ldd; python: python3 with pip.
set -euo pipefail

die() { printf 'build-image: %s\n' "$*" >&2; exit 1; }
usage() {
  die "usage: $0 rust BINARY OUT.tar IMAGE_NAME | $0 python FUNCTION_DIR BASE OUT.tar IMAGE_NAME"
}

(($# >= 1)) || usage
MODE=$1
shift
case $MODE in
  rust) (($# == 3)) || usage; SOURCE=$1 OUT=$2 IMAGE=$3 ;;
  python) (($# == 4)) || usage; SOURCE=$1 BASE=$2 OUT=$3 IMAGE=$4 ;;
  *) usage ;;
esac
for tool in umoci skopeo jq tar; do
  command -v "$tool" >/dev/null || die "$tool is not installed (Debian: apt-get install umoci skopeo jq tar)"
done
[[ -d $(dirname -- "$OUT") ]] || die "the folder of $OUT does not exist"
[[ -n $IMAGE ]] || die "IMAGE_NAME is empty"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK" "$OUT.partial"' EXIT
LAYOUT=$WORK/oci
STAGE=$WORK/stage
TAG=build
ROOTLESS=()
((EUID == 0)) || ROOTLESS=(--rootless)
umask 022
mkdir -p "$STAGE"

if [[ $MODE == rust ]]; then
  BINARY=$SOURCE
  [[ -f $BINARY && -x $BINARY ]] || die "$BINARY is not an executable file (build it: cargo build --release -p <name>)"
  command -v ldd >/dev/null || die "ldd is not installed (Debian: apt-get install libc-bin)"
  NAME=$(basename -- "$BINARY")
  CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
  [[ -f $CA_BUNDLE ]] || die "no CA bundle at $CA_BUNDLE (Debian: apt-get install ca-certificates, or set CA_BUNDLE)"
  umoci init --layout "$LAYOUT"
  umoci new --image "$LAYOUT:$TAG"
  umoci unpack "${ROOTLESS[@]}" --image "$LAYOUT:$TAG" "$WORK/bundle"
  ROOTFS=$WORK/bundle/rootfs
  install -D -m 0755 "$BINARY" "$ROOTFS/usr/local/bin/$NAME"
  while read -r lib; do
    [[ -f $lib ]] || die "ldd names $lib but it does not exist"
    install -D -m 0755 "$(readlink -f "$lib")" "$ROOTFS$lib"
  done < <(ldd "$BINARY" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
  install -D -m 0644 "$CA_BUNDLE" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
  install -d -m 1777 "$ROOTFS/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    >"$ROOTFS/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$ROOTFS/etc/group"
  umoci repack --image "$LAYOUT:$TAG" "$WORK/bundle"
  CONFIG=(--config.entrypoint "/usr/local/bin/$NAME"
    --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
    --config.workingdir /)
else
  FUNCTION_DIR=$SOURCE
  [[ -f $FUNCTION_DIR/handler.py ]] || die "$FUNCTION_DIR has no handler.py"
  [[ -f $FUNCTION_DIR/requirements.txt ]] || die "$FUNCTION_DIR has no requirements.txt"
  NAME=$(basename -- "$(cd -- "$FUNCTION_DIR" && pwd)")
  [[ $NAME == python ]] && NAME=$(basename -- "$(cd -- "$FUNCTION_DIR/.." && pwd)")
  mkdir -p "$LAYOUT"
  skopeo copy --quiet "$BASE" "oci:$LAYOUT:$TAG" || die "cannot read the base image $BASE"
  BASE_ENV=$(skopeo inspect --config "oci:$LAYOUT:$TAG" | jq -r '.config.Env // [] | .[]')
  PY=${PYTHON_VERSION:-$(sed -n 's/^PYTHON_VERSION=//p' <<<"$BASE_ENV")}
  [[ $PY =~ ^3\.[0-9]+ ]] || die "cannot tell the base image's Python version (no PYTHON_VERSION in its environment): set PYTHON_VERSION=3.x"
  PY=${BASH_REMATCH[0]}
  install -D -m 0644 "$FUNCTION_DIR/handler.py" "$STAGE/app/handler.py"
  install -D -m 0644 "$FUNCTION_DIR/requirements.txt" "$STAGE/app/requirements.txt"
  if grep -qvE '^[[:space:]]*(#|$)' "$FUNCTION_DIR/requirements.txt"; then
    read -r -a EXTRA <<<"${PIP_EXTRA_ARGS:-}"
    "${PYTHON:-python3}" -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --no-compile \
      --target "$STAGE/app/site-packages" --only-binary=:all: \
      --python-version "$PY" --implementation cp \
      --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
      "${EXTRA[@]}" --requirement "$FUNCTION_DIR/requirements.txt" ||
      die "pip could not install $FUNCTION_DIR/requirements.txt for Python $PY"
  else
    mkdir -p "$STAGE/app/site-packages"
  fi
  chmod -R a+rX "$STAGE/app"
  # Unpack, add, repack: the new layer holds /app only. (Not `umoci insert`: umoci 0.4.7 writes
  # that layer's tar without the last file's padding and the end-of-archive blocks, which Go's
  # archive/tar, and so containerd, reads as an unexpected EOF.)
  umoci unpack "${ROOTLESS[@]}" --image "$LAYOUT:$TAG" "$WORK/bundle" >/dev/null
  mkdir -p "$WORK/bundle/rootfs/app"
  cp -R "$STAGE/app/." "$WORK/bundle/rootfs/app/"
  umoci repack --image "$LAYOUT:$TAG" "$WORK/bundle"
  CONFIG=(--clear=config.cmd --config.entrypoint python3 --config.entrypoint /app/handler.py
    --config.env PYTHONPATH=/app/site-packages --config.env PYTHONUNBUFFERED=1
    --config.env PYTHONDONTWRITEBYTECODE=1 --config.workingdir /app)
fi

umoci config --image "$LAYOUT:$TAG" --tag "$IMAGE" \
  --os linux --architecture amd64 \
  "${CONFIG[@]}" \
  --config.env PORT=8080 \
  --config.user 65532:65532 \
  --config.exposedports 8080/tcp \
  --config.label "org.opencontainers.image.title=$NAME"
umoci rm --image "$LAYOUT:$TAG"
umoci gc --layout "$LAYOUT"

# containerd (k3s's image import) names an imported image by this annotation.
jq --arg name "$IMAGE" '.manifests |= map(.annotations["io.containerd.image.name"] = $name)' \
  "$LAYOUT/index.json" >"$WORK/index.json"
mv "$WORK/index.json" "$LAYOUT/index.json"

tar --sort=name --owner=0 --group=0 --numeric-owner -C "$LAYOUT" -cf "$OUT.partial" .
mv "$OUT.partial" "$OUT"
printf 'built %s (%s, %s bytes)\n' "$OUT" "$IMAGE" "$(stat -c %s "$OUT")"
