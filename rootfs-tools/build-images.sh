#!/usr/bin/env bash
# Build the busybox and web OCI image layouts into OUT_DIR (no network needed).
# Usage: build-images.sh OUT_DIR
set -euo pipefail
if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec python3 "$here/oci_images.py" "$1" "${BUSYBOX:-/bin/busybox}"
