#!/usr/bin/env bash
# The whole test suite: formatting and lints, then unit, property, conformance and the
# privileged integration suites (real containers, a real registry, the AWS CLI and SDK).
# Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo build --locked --bin gantry
cargo nextest run --locked --workspace --no-fail-fast "$@"
