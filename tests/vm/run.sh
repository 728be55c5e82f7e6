#!/usr/bin/env bash
# Runs the project's privileged integration suites inside a fresh Debian 12 guest (Debian's
# kernel, systemd, pure cgroup v2): a check of a kernel and a distribution before upgrading
# hosts. Builds `gantry` and the suites on the host, archives them with `cargo nextest
# archive`, boots the image tests/vm/build-image.sh made (building it first if needed), runs
# the archive inside and prints nextest's report. Run as root, with the machine's privileged
# test lock held if other suites may run at the same time.
#
# Usage: tests/vm/run.sh [--test NAME]... [-- NEXTEST_RUN_ARGS...]
#   tests/vm/run.sh --test containers              # one suite
#   tests/vm/run.sh --test containers --test daemon -- -E 'test(cgroup)'
# Environment: GANTRY_VM_ACCEL=kvm|tcg (default kvm; tcg on a host whose /dev/kvm is PVM),
# GANTRY_VM_CACHE (image cache, default <target dir>/vm).
set -euo pipefail
cd "$(dirname "$0")/../.."
builds=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
  builds+=("$1")
  shift
done
[[ "${1:-}" == "--" ]] && shift
[[ ${#builds[@]} -gt 0 ]] || builds=(--test containers)
target="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$target/vm"
archive="$target/vm/suites.tar.zst"
tests/vm/build-image.sh >/dev/null
cargo build --locked --bin gantry
bin="$target/vm/gantry"
cp "$target/debug/gantry" "$bin"
cargo nextest archive --locked -p gantry-tests "${builds[@]}" --archive-file "$archive"
cargo build --locked -p gantry-tests --test vm
trap 'rm -f "$archive" "$bin"' EXIT
GANTRY_BIN="$bin" GANTRY_VM_ARCHIVE="$archive" GANTRY_VM_NEXTEST_ARGS="$*" \
  cargo nextest run --locked -p gantry-tests --test vm --run-ignored only --no-capture \
  -E 'test(suites_in_the_guest)'
