#!/usr/bin/env bash
# Push the layouts built by build-images.sh to a registry.
# Usage: push.sh OUT_DIR REGISTRY_HOST:PORT [USER:PASS]
# TLS is not verified (test registries are plain HTTP on loopback).
set -euo pipefail
if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 OUT_DIR REGISTRY_HOST:PORT [USER:PASS]" >&2
    exit 2
fi
out="$1"
registry="$2"
creds=()
if [[ $# -eq 3 ]]; then
    creds=(--dest-creds "$3")
fi
for image in busybox web; do
    if [[ ! -f "$out/$image/index.json" ]]; then
        echo "$out/$image is not an OCI layout: run build-images.sh $out first" >&2
        exit 1
    fi
    skopeo copy --quiet --dest-tls-verify=false "${creds[@]}" \
        "oci:$out/$image:latest" "docker://$registry/$image:latest"
    echo "pushed $registry/$image:latest"
done
