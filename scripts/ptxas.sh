#!/usr/bin/env bash
# Assembles PTX files with NVIDIA's ptxas for sm_90, without a GPU: installs the pinned PyPI
# wheels of the CUDA 13.0 compiler (nvidia-cuda-nvcc==13.0.88 and its companions, see
# scripts/gen-ptx.sh) into .data/cuda-toolkit when they are missing, then runs
# `ptxas -arch=sm_90` on every file given, failing on the first error.
#
#   scripts/ptxas.sh ptx/interp/tests/planted/*.ptx
#   scripts/ptxas.sh --path      # prints the ptxas path (installing it if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
# The pinned CUDA 13.0 compiler wheels (the H200 driver's version) hold ptxas; gen-ptx.sh
# installs them into .data/cuda-toolkit.
T=$(scripts/gen-ptx.sh --toolkit)
PTXAS="$T/bin/ptxas"
if [ ! -x "$PTXAS" ]; then
    echo "ptxas.sh: no ptxas found in $T" >&2
    exit 2
fi
if [ "${1:-}" = "--path" ]; then
    echo "$PTXAS"
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
