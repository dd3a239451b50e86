#!/usr/bin/env bash
# Assembles PTX files with NVIDIA's ptxas for sm_90, without a GPU: installs the pinned PyPI
# wheel nvidia-cuda-nvcc (which ships ptxas) into .data/cuda-nvcc when it is missing, then
# runs `ptxas -arch=sm_90` on every file given, failing on the first error.
#
#   scripts/ptxas.sh ptx/tests/planted/*.ptx
#   scripts/ptxas.sh --path      # prints the ptxas path (installing it if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=13.0.88
DIR=.data/cuda-nvcc
PTXAS="$DIR/nvidia/cu13/bin/ptxas"
if [ ! -x "$PTXAS" ]; then
    echo "ptxas.sh: installing nvidia-cuda-nvcc==$VERSION into $DIR" >&2
    mkdir -p .data
    python3 -m pip install --quiet --no-deps --target "$DIR" "nvidia-cuda-nvcc==$VERSION" >&2
    # The wheel's layout: ptxas under nvidia/cu13/bin (CUDA 13); find it if that moves.
    if [ ! -x "$PTXAS" ]; then
        PTXAS=$(find "$DIR" -type f -name ptxas | head -n 1)
    fi
fi
if [ ! -x "$PTXAS" ]; then
    echo "ptxas.sh: no ptxas found in $DIR" >&2
    exit 2
fi
if [ "${1:-}" = "--path" ]; then
    echo "$PWD/$PTXAS"
    exit 0
fi
if [ $# -eq 0 ]; then
    echo "usage: scripts/ptxas.sh FILE.ptx..." >&2
    exit 2
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for f in "$@"; do
    if "$PTXAS" -arch=sm_90 -o "$out/a.cubin" "$f"; then
        echo "ok   $f"
    else
        echo "FAIL $f" >&2
        status=1
    fi
done
exit $status
