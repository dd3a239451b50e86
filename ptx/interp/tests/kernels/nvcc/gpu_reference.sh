#!/usr/bin/env bash
# Runs every entry of instructions.ptx on a real GPU (sm_90: H100/H200) through the driver's
# JIT (tests/sanitizer/launch.c) and writes each entry's output buffer to OUTDIR/ENTRY.bin;
# tests/instructions.rs holds the FNV-1a hashes of those files as the GPU's answers.
#
#   ptx/interp/tests/kernels/nvcc/gpu_reference.sh OUTDIR     (needs a GPU, nvcc, libcuda)
set -euo pipefail
cd "$(dirname "$0")"
out=$1
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
nvcc -O1 -o "$work/launch" ../../sanitizer/launch.c -lcuda
# entry grid block output-bytes [more args]
run() {
    local entry=$1 grid=$2 block=$3 bytes=$4
    shift 4
    mkdir -p "$work/$entry"
    "$work/launch" instructions.ptx "$entry" "$grid" "$block" --dump "$work/$entry" -- \
        "uninit:$bytes" "$@"
    cp "$work/$entry/arg0.bin" "$out/$entry.bin"
}
run fp8_from_f16x2 256 256 $((65536 * 4 * 2))
run fp8_from_f32 1024 256 $((262144 * 4 * 2))
run f16x2_from_fp8 256 256 $((65536 * 4 * 4))
run tf32_from_f32 1024 256 $((262144 * 5 * 4))
run atomics_half 64 256 $((16384 * 16 * 4)) "uninit:$((16384 * 16 * 4))"
run set_forms 256 256 $((65536 * 12 * 4))
run mbarrier_walk 1 32 $((32 * 4))
run activemask_branch 1 64 $((64 * 2 * 4))
ls -l "$out"
