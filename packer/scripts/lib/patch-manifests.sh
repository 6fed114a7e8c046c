#!/usr/bin/env bash
# The build's changes to the Knative and Contour release manifests, made to the copies in DIR
# (named as in bom.json's dest: NN-<name>.yaml) before 40-knative.sh lists their images and
# installs them. 40-knative.sh runs it inside the build VM; scripts/check-budget.py runs it offline
# on the reference copies, so the request budget is summed over what the appliance really runs.
# Every change must apply: a manifest that no longer has what a change expects stops the build.
#   patch-manifests.sh DIR
# Needs: awk, mv, find.
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

# requests NAME KIND NAMESPACE WORKLOAD CONTAINER CPU MEMORY: sets that container's requests
# ("-" keeps a value).
requests() {
  local name=$1 kind=$2 ns=$3 workload=$4 container=$5 cpu=$6 memory=$7 values=0
  file=$(file_of "$name")
  [[ $cpu == - ]] || values=$((values + 1))
  [[ $memory == - ]] || values=$((values + 1))
  run_awk set-requests.awk -v kind="$kind" -v namespace="$ns" -v name="$workload" \
    -v container="$container" -v cpu="$cpu" -v memory="$memory" "$file"
  [[ $COUNT == "$values" ]] ||
    die "$(basename "$file"): $kind $ns/$workload container $container has no requests to set ($COUNT of $values found)"
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
# JobSink (events that start Kubernetes Jobs) is not something the appliance offers; its
# Deployment would hold 125m of the two vCPUs. The CRD and the controller's reconciler stay.
drop eventing-core Deployment job-sink

# Requests sized to an appliance with one node and a handful of functions (README.md, "Resources";
# scripts/check-budget.py sums them): the activator only buffers requests for functions scaled to
# zero (300m upstream, sized for a cluster's traffic), and each Envoy serves one node's few routes
# (200m + 40m for its shutdown-manager upstream, for each of the two).
requests serving-core Deployment knative-serving activator activator 100m -
for ns in contour-external contour-internal; do
  requests "$ns" DaemonSet "$ns" envoy envoy 50m -
  requests "$ns" DaemonSet "$ns" envoy shutdown-manager 10m -
done
echo "patched the manifests in $DIR"
