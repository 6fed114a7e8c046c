#!/usr/bin/env bash
# The build's changes to the Knative and Contour release manifests, made to the copies in DIR
# (named as in bom.json's dest: NN-<name>.yaml) before 40-knative.sh lists their images and
# installs them. 40-knative.sh runs it inside the build VM.
# Every change must apply: a manifest that no longer has what a change expects stops the build.
#   patch-manifests.sh DIR
# Needs: awk, cmp, mv, find.
set -euo pipefail
(($# == 1)) || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$1
LIB=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)

die() { echo "error: $*" >&2; exit 1; }

# The one file of DIR that holds bom.json's entry $1.
file_of() {
  local found=()
  mapfile -t found < <(find "$DIR" -maxdepth 1 -name "*-$1.yaml")
  ((${#found[@]} == 1)) || die "expected one *-$1.yaml in $DIR, found ${#found[@]}"
  printf '%s\n' "${found[0]}"
}

# Runs awk -f LIB/$1 with the rest as arguments over $file into $file.new; sets COUNT to what
# the script reported.
run_awk() {
  local script=$1 count_file
  shift
  count_file=$(mktemp)
  awk -f "$LIB/$script" -v report=1 "$@" 2>"$count_file" >"$file.new"
  COUNT=$(<"$count_file")
  rm -f "$count_file"
}

# drop NAME KIND "DOC...": removes those documents of that kind from entry NAME.
drop() {
  local name=$1 kind=$2 docs=$3 want
  file=$(file_of "$name")
  read -ra want <<<"$docs"
  run_awk drop-doc.awk -v kind="$kind" -v names="$docs" "$file"
  [[ $COUNT == "${#want[@]}" ]] ||
    die "$(basename "$file"): expected to drop ${#want[@]} $kind document(s) ($docs), dropped $COUNT: check the change against this release"
  mv "$file.new" "$file"
}

# net-contour's release joins config/contour/external.yaml and internal.yaml into contour.yaml and
# drops the documents they share (Contour's CRDs, the knative-contour ClusterRole); bom.json pins
# the two files, so the build drops them too: two k3s manifests must not own the same objects.
external=$(file_of contour-external)
file=$(file_of contour-internal)
awk -f "$LIB/dedupe-docs.awk" "$external" "$file" >"$file.new"
mv "$file.new" "$file"

# serving-core's own config-network and config-domain would fight ours over one object each:
# config-network comes from files/config-network.yaml, config-domain (the appliance's FQDN, so
# functions get <name>.<namespace>.<fqdn>) is rendered by firstboot.
drop serving-core ConfigMap "config-network config-domain"
echo "patched the manifests in $DIR"
