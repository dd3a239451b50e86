#!/usr/bin/env bash
# Confirms the planted bugs on a real GPU: builds launch.c with nvcc, runs every kernel in
# ../planted under compute-sanitizer's memcheck, racecheck, synccheck and initcheck, and
# prints one row per planted bug and tool with the sanitizer's verdict, beside what the
# interpreter reports for that file (its `// BUG` kind, from tests/planted.rs).
#
#   ptx/interp/tests/sanitizer/run.sh            (needs a GPU, nvcc, compute-sanitizer on PATH or
#                                          CUDA_HOME set)
#
# Each run has a time limit (barrier_deadlock hangs on hardware: its verdict is "hang").
set -uo pipefail
cd "$(dirname "$0")"
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
NVCC=$(command -v nvcc || echo "$CUDA_HOME/bin/nvcc")
SAN=$(command -v compute-sanitizer || echo "$CUDA_HOME/bin/compute-sanitizer")
LIMIT=${LIMIT:-60}
source ./verdict.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$NVCC" -O1 -o "$work/launch" launch.c -lcuda || { echo "run.sh: building launch.c failed" >&2; exit 2; }

# What the interpreter reports for each planted file (tests/planted.rs asserts these).
declare -A interp=(
    [clean]="clean" [oob_global]="out-of-bounds" [misaligned]="misaligned" [oob_shared]="out-of-bounds"
    [uninit_register]="uninitialised-register" [uninit_shared]="uninitialised-shared"
    [uninit_global]="uninitialised-global" [shared_race]="shared-race" [global_race]="global-race"
    [barrier_exit]="barrier-divergence" [barrier_deadlock]="deadlock (error)"
    [barrier_divergent]="barrier-divergence" [shfl_exited]="collective-mask"
    [shfl_diverged]="collective-divergence" [cp_async_unwaited]="async-copy-unwaited"
)

printf "%-18s %-24s %-10s %s\n" planted interpreter tool verdict
for f in ../planted/*.ptx; do
    name=$(basename "$f" .ptx)
    for tool in memcheck racecheck synccheck initcheck; do
        # The shape every planted kernel shares: 2 blocks of 64 threads, n = 128; `out` is
        # never written by the host (as in tests/planted.rs), `in` and `sum` are.
        verdict=$(sanitize "$tool" 100 "$work/launch" "$f" kernel 2 64 -- uninit:512 buf:512 buf:16 u32:128)
        printf "%-18s %-24s %-10s %s\n" "$name" "${interp[$name]:-?}" "$tool" "$verdict"
    done
done
