#!/usr/bin/env bash
# Generates the PTX we ship from the CUDA C sources in ptx/kernels/: for each NAME.cu,
# nvcc (pinned PyPI wheels of CUDA 13.0, the H200 driver's version; no GPU needed) writes
# NAME.ptx beside it, and the doc comment above each `extern "C" __global__` kernel (its
# `///` lines: what it computes, the thread mapping, parameters, shape limits) is copied
# above its `.entry` in the PTX, so the loaded text carries them. The .ptx files are
# committed; ptx/tests/generated.rs runs this script into a temporary folder and fails on any
# byte of difference.
#
#   scripts/gen-ptx.sh                 # regenerate every ptx/kernels/*.ptx
#   scripts/gen-ptx.sh --out DIR       # write into DIR instead (what the test does)
#   scripts/gen-ptx.sh --toolkit       # install the toolkit if needed, print its folder
#
# The target is sm_80 (the PTX then runs on Ampere and Hopper alike) unless the source's
# first line says `// target: sm_90a` (or another target).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=.data/cuda-toolkit
T="$DIR/nvidia/cu13"
WHEELS="nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85"
if [ ! -x "$T/bin/nvcc" ] || [ ! -d "$T/nvvm" ] || [ ! -d "$T/include/cccl" ]; then
    echo "gen-ptx.sh: installing the CUDA 13.0 compiler wheels into $DIR" >&2
    mkdir -p .data
    # shellcheck disable=SC2086
    python3 -m pip install --quiet --no-deps --target "$DIR" $WHEELS >&2
fi
if [ "${1:-}" = "--toolkit" ]; then
    echo "$PWD/$T"
    exit 0
fi
out=ptx/kernels
if [ "${1:-}" = "--out" ]; then
    out=$2
    mkdir -p "$out"
fi
for cu in ptx/kernels/*.cu; do
    name=$(basename "$cu" .cu)
    target=$(head -n 1 "$cu" | sed -n 's|^// target: \(sm_[0-9a-z]*\)$|\1|p')
    target=${target:-sm_80}
    raw=$(mktemp)
    PATH="$T/bin:$PATH" "$T/bin/nvcc" -ptx -arch="$target" -std=c++17 -O3 \
        -I"$T/include" -I"$T/include/cccl" -o "$raw" "$cu"
    python3 scripts/ptx_comments.py "$cu" "$raw" > "$out/$name.ptx"
    rm -f "$raw"
    echo "$out/$name.ptx ($target)"
done
