#!/usr/bin/env bash
# Prints every container image reference in the given Kubernetes manifests, once each: the
# `image:` fields and the references Knative keeps in ConfigMaps and environment variables
# (queue-proxy, dispatchers), by registry host.
set -euo pipefail
(($#)) || { echo "usage: $0 MANIFEST..." >&2; exit 2; }
grep -ohE '(gcr\.io|ghcr\.io|docker\.io|quay\.io|registry\.k8s\.io|mirror\.gcr\.io|cgr\.dev)/[A-Za-z0-9._/-]+(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?' "$@" |
  sort -u
