#!/usr/bin/env bash
# Tests scripts/check-image-names.py on image archives made here, offline: a tiny OCI layout
# (umoci) exported under the names 40-knative.sh gives its images and under the digest-only name it
# used to give them, the same image as a docker-archive (skopeo), and the router's image as
# scripts/build-router-image.sh builds it (with a stand-in binary). Run by `make lint`.
# Needs umoci, skopeo, jq, tar, python3.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
CHECK=$ROOT/scripts/check-image-names.py
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for tool in umoci skopeo jq tar python3; do
  command -v "$tool" >/dev/null || { echo "test-image-names: $tool is not installed" >&2; exit 1; }
done
fails=0
fail() { echo "test-image-names: FAIL: $*" >&2; fails=$((fails + 1)); }

# expect 0|1 ARCHIVE [ARGS...]: runs the check and compares its exit code; OUT holds its output.
expect() {
  local want=$1 rc=0
  shift
  OUT=$(python3 "$CHECK" "$@" 2>&1) || rc=$?
  [[ $rc == "$want" ]] || fail "check-image-names.py $* exited $rc, expected $want: $OUT"
}

# An OCI archive of one empty image whose index entry carries the name $2: writes $1.
oci_archive() {
  local out=$1 name=$2 layout=$WORK/layout-$RANDOM
  cp -r "$WORK/base" "$layout"
  jq --arg n "$name" '.manifests |= map(.annotations = {"io.containerd.image.name": $n})' \
    "$layout/index.json" >"$layout/index.new"
  mv "$layout/index.new" "$layout/index.json"
  tar -C "$layout" -cf "$out" .
}

umoci init --layout "$WORK/base" >/dev/null
umoci new --image "$WORK/base:t" >/dev/null
digest=$(jq -r '.manifests[0].digest' "$WORK/base/index.json")
hex=${digest#sha256:}
repo=gcr.io/knative-releases/knative.dev/serving/cmd/queue

# What the build exports now: name:sha256-<hex>; k3s adds name@sha256:<hex>, the manifests' reference.
oci_archive "$WORK/tagged.tar" "$repo:sha256-$hex"
expect 0 "$WORK/tagged.tar" --want "$repo@$digest"
[[ $OUT == *"re-tags it as $repo@$digest"* ]] || fail "no alias $repo@$digest in: $OUT"
# ... and a reference no image answers to is named.
expect 1 "$WORK/tagged.tar" --want "$repo@sha256:$(printf '0%.0s' {1..64})"
[[ $OUT == *"no image in"* ]] || fail "the missing reference is not named: $OUT"

# What the build exported before: the digest-only reference k3s cannot re-tag.
oci_archive "$WORK/digest.tar" "$repo@$digest"
expect 1 "$WORK/digest.tar" --want "$repo@$digest"
[[ $OUT == *"digest-only: k3s cannot re-tag it"* ]] || fail "the digest-only name is not refused: $OUT"

# An image without a name.
tar -C "$WORK/base" -cf "$WORK/unnamed.tar" .
expect 1 "$WORK/unnamed.tar"
[[ $OUT == *"has no name"* ]] || fail "the unnamed image is not refused: $OUT"

# A docker-archive: RepoTags, normalized as containerd does (envoy -> docker.io/library/envoy).
skopeo --insecure-policy copy -q "oci:$WORK/base:t" "docker-archive:$WORK/docker.tar:envoy:v1" >/dev/null
expect 0 "$WORK/docker.tar" --want docker.io/library/envoy:v1
[[ $OUT == *"envoy:v1: k3s re-tags it as docker.io/library/envoy@"* ]] || fail "docker-archive name: $OUT"

# The router's image, as the OVA carries it: named by tag.
printf '#!/bin/sh\necho "event-router 0.0.0-check"\n' >"$WORK/event-router"
chmod +x "$WORK/event-router"
printf 'stand-in CA bundle\n' >"$WORK/ca.crt"
if CA_BUNDLE=$WORK/ca.crt bash "$ROOT/scripts/build-router-image.sh" "$WORK/event-router" \
  "$WORK/router.tar" >"$WORK/router.log" 2>&1; then
  expect 0 "$WORK/router.tar" --want localhost/event-router:0.0.0-check
else
  fail "build-router-image.sh failed: $(tail -n 5 "$WORK/router.log")"
fi

((fails == 0)) || exit 1
echo "test-image-names: the checker reads OCI and docker archives, refuses digest-only and unnamed images and names unanswered references"
