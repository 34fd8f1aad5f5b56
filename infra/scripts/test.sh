#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, the contract suite on both backends, the
# Lambda handler tests on moto, and the local server's end-to-end tests.
#
# Needs python3 (for moto) and a Rust toolchain; moto is installed into .venv-moto on
# first use. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exec infra/scripts/with-moto.sh cargo test --workspace "$@"
