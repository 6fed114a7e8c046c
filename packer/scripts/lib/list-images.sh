#!/usr/bin/env bash
# Prints every container image reference in the given Kubernetes manifests, once each: the
# `image:` fields and the references Knative keeps in ConfigMaps and environment variables
# (queue-proxy, dispatchers), by registry host. Skipped: eventing-core's
# eventing-integrations-images and eventing-transformations-images ConfigMaps (the AWS, log-sink,
# timer-source and JSONata images of IntegrationSources/Sinks and EventTransforms, which the
# appliance never runs; the ConfigMaps themselves stay deployed for eventing-controller).
set -euo pipefail
(($#)) || { echo "usage: $0 MANIFEST..." >&2; exit 2; }
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
SKIP="eventing-integrations-images eventing-transformations-images"
for f in "$@"; do
  [[ -r $f ]] || { echo "error: cannot read $f" >&2; exit 1; }
  awk -f "$HERE/drop-doc.awk" -v kind=ConfigMap -v names="$SKIP" "$f"
done |
  grep -oE '(gcr\.io|ghcr\.io|docker\.io|quay\.io|registry\.k8s\.io|mirror\.gcr\.io|cgr\.dev)/[A-Za-z0-9._/-]+(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?' |
  sort -u
