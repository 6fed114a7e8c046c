#!/usr/bin/env bash
# Knative Serving + Eventing (in-memory channel, MT channel-based broker) and Contour via
# net-contour (Envoy on ports 80/443 through k3s's service load balancer), as manifests in k3s's
# auto-deploy folder; their container images pulled once here and saved into k3s's agent images
# folder, so the appliance starts them without internet.
set -euo pipefail
: "${PAYLOAD:?}"
export BOM=$PAYLOAD/bom.json
# shellcheck source-path=SCRIPTDIR source=lib/fetch.sh
source "$PAYLOAD/lib/fetch.sh"
# shellcheck source-path=SCRIPTDIR source=lib/k3s-stop.sh
source "$PAYLOAD/lib/k3s-stop.sh"

MANIFESTS=/var/lib/rancher/k3s/server/manifests
IMAGES=/var/lib/rancher/k3s/agent/images
STAGE=$PAYLOAD/knative
mkdir -p "$STAGE" "$IMAGES"

# Download into a staging folder first: k3s must not deploy them while we only want its
# containerd to pull images.
declare -A DEST
while IFS=$'\t' read -r name url sha dest mode; do
  fetch "$name" "$url" "$sha" "$STAGE/$(basename "$dest")" "$mode"
  DEST[$STAGE/$(basename "$dest")]=$dest
done < <(bom_files knative)

# The build's changes to the release manifests (lib/patch-manifests.sh: Contour's two halves
# joined as net-contour's release joins them, serving-core's config-network and config-domain
# replaced, JobSink's Deployment left out, requests sized to the appliance), before the images
# are listed, so nothing is pulled for what the appliance does not run.
bash "$PAYLOAD/lib/patch-manifests.sh" "$STAGE"

mapfile -t images < <(bash "$PAYLOAD/lib/list-images.sh" "$STAGE"/*.yaml)
((${#images[@]} > 0)) || { echo "error: found no container images in the Knative manifests" >&2; exit 1; }
echo "pulling ${#images[@]} images"

# A throwaway k3s, only for its containerd; its cluster state is wiped afterwards so each
# deployed appliance creates its own (certificates, node name, tokens).
mkdir -p /etc/rancher/k3s
printf 'disable:\n  - traefik\nwrite-kubeconfig-mode: "0600"\n' >/etc/rancher/k3s/config.yaml
systemctl start k3s
for _ in $(seq 1 120); do
  k3s ctr version >/dev/null 2>&1 && break
  sleep 2
done
k3s ctr version >/dev/null
# Knative names its images by digest alone (name@sha256:<hex>). k3s re-tags every image it imports
# from the agent images folder, adding name@<digest> itself, but parses each name as a tagged
# reference first and fails the whole file on a digest-only one; a failed file never enters
# .cache.json and is imported again at every boot (k3s-io/k3s, pkg/agent/containerd/containerd.go
# retagImages/parseNamedTagged, watcher.go processImageEvent). So each image is exported by a tag
# made of its digest (name:sha256-<hex>); k3s recreates name@sha256:<hex>, the manifests' reference.
# scripts/check-image-names.py checks an archive for exactly this (the dry run and make lint).
exported=()
for ref in "${images[@]}"; do
  k3s ctr -n k8s.io images pull --platform linux/amd64 "$ref" >/dev/null
  echo "pulled $ref"
  name=${ref%@sha256:*}
  if [[ $ref == *@sha256:* && ${name##*/} != *:* ]]; then
    k3s ctr -n k8s.io images tag --force "$ref" "$name:sha256-${ref##*@sha256:}" >/dev/null
    exported+=("$name:sha256-${ref##*@sha256:}")
  else
    exported+=("$ref")
  fi
done
# Exported into the staging folder, not the agent images folder: the running k3s watches that
# folder and would import the tarball while it is still being written (k3s-io/k3s,
# pkg/agent/containerd/watcher.go). It moves in once k3s is stopped.
k3s ctr -n k8s.io images export --platform linux/amd64 "$STAGE/knative-contour.tar" "${exported[@]}"

k3s_stop /var/lib/rancher/k3s
rm -rf /var/lib/rancher/k3s/server /var/lib/rancher/k3s/agent/containerd \
  /var/lib/rancher/k3s/agent/etc /var/lib/rancher/k3s/agent/pod-manifests \
  /var/lib/rancher/k3s/agent/*.crt /var/lib/rancher/k3s/agent/*.key \
  /var/lib/rancher/k3s/agent/*.kubeconfig /var/lib/rancher/k3s/data \
  /etc/rancher/k3s/k3s.yaml /etc/rancher/k3s/config.yaml /etc/rancher/node \
  /var/lib/kubelet /var/lib/cni /run/k3s /run/flannel
mv "$STAGE/knative-contour.tar" "$IMAGES/knative-contour.tar"

mkdir -p "$MANIFESTS"
for staged in "${!DEST[@]}"; do
  install -m 0600 "$staged" "${DEST[$staged]}"
done
install -m 0600 "$PAYLOAD/files/config-network.yaml" "$MANIFESTS/12-config-network.yaml"
ls -l "$MANIFESTS" "$IMAGES"
