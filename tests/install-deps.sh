#!/usr/bin/env bash
# Installs what Gantry needs to build, run and test on Debian 12, as root:
# system packages (one apt-get update, then one apt-get install) and the AWS CLI in a venv.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
# The VM suite (tests/vm) needs qemu and debootstrap; the etcd store tests and the HA tests
# start etcd-server members (etcd 3.4); protobuf-compiler is protoc, which the etcd client
# crate needs at build time, and libprotobuf-dev has the google/protobuf/*.proto files its
# protos import (--no-install-recommends leaves them out). qemu-utils comes from bookworm itself:
# a backported qemu-utils breaks bookworm's qemu-system-x86, hence the pin and the downgrade.
apt-get install -y --no-install-recommends --allow-downgrades \
  build-essential pkg-config libseccomp-dev \
  busybox-static skopeo umoci runc docker-registry apache2-utils \
  iproute2 nftables conntrack iperf3 util-linux systemd python3-venv python3-pip ca-certificates \
  qemu-system-x86 qemu-utils/bookworm debootstrap e2fsprogs openssh-client socat \
  etcd-server protobuf-compiler libprotobuf-dev
# The AWS CLI and boto3 (the end-to-end tests drive Gantry with both), resolved together so
# they agree on one botocore.
if [[ ! -x /opt/gantry-venv/bin/aws ]] || ! /opt/gantry-venv/bin/python -c 'import boto3' 2>/dev/null; then
  python3 -m venv /opt/gantry-venv
  /opt/gantry-venv/bin/pip install --quiet awscli boto3
fi
if ! command -v cargo >/dev/null; then
  echo "Rust is not installed: install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
# CI checks formatting and lints; rustup's minimal profile leaves these two out.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
