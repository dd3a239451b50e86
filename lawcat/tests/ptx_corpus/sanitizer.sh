#!/usr/bin/env bash
# The corpus on a GPU: every `// launch` line of tests/ptx_corpus/*.cu run by the driver (the
# PTX nvcc makes of the file, loaded with cuModuleLoadData by ptx/interp/tests/sanitizer/
# launch.c) under compute-sanitizer's memcheck, racecheck, synccheck and initcheck, one row
# per launch and tool: what `lawcat ptx check` finds (BIN, default .gpu/lawcat) beside the
# sanitizer's verdict. Needs nvcc and compute-sanitizer (on PATH or under CUDA_HOME) and
# python3 (to write the typed buffers as files for the launcher).
#
#   BIN=.gpu/lawcat lawcat/tests/ptx_corpus/sanitizer.sh
#   TOOLS=auto ...   (only the tool that checks what each launch expects, and memcheck: a
#                     quicker table)
set -uo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../../.. && pwd)
BIN=${BIN:-$ROOT/.gpu/lawcat}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
NVCC=$(command -v nvcc || echo "$CUDA_HOME/bin/nvcc")
SAN=$(command -v compute-sanitizer || echo "$CUDA_HOME/bin/compute-sanitizer")
LIMIT=${LIMIT:-30}
source "$ROOT/ptx/interp/tests/sanitizer/verdict.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$NVCC" -O1 -o "$work/launch" "$ROOT/ptx/interp/tests/sanitizer/launch.c" -lcuda \
    || { echo "sanitizer.sh: building launch.c failed" >&2; exit 2; }

# A `--arg` spec the launcher takes as it is, or a file holding the typed buffer.
launch_arg() { # spec, file stem
    python3 - "$1" "$2" <<'PY'
import struct, sys
spec, stem = sys.argv[1], sys.argv[2]
kind, _, v = spec.partition(":")
fmt = {"i8": "b", "u8": "B", "i16": "h", "u16": "H", "i32": "i", "s32": "i", "u32": "I",
       "i64": "q", "s64": "q", "u64": "Q", "f16": "e", "f32": "f", "f64": "d"}
def bf16(x):
    b = struct.unpack("<I", struct.pack("<f", float(x)))[0]
    return struct.pack("<H", (b + 0x7fff + ((b >> 16) & 1)) >> 16)
def enc(t, x):
    return bf16(x) if t == "bf16" else struct.pack("<" + fmt[t], int(x) if fmt[t] in "bBhHiIqQ" else float(x))
if kind == "zero":
    data = bytes(int(v))
elif kind.endswith("]"):
    t, n = kind[:-1].split("[")
    vals = v.split(",") if v else []
    data = (b"".join(enc(t, x) for x in vals) if not n
            else enc(t, vals[0] if vals else 0) * int(n))
else:
    print({"i32": "s32:", "i64": "s64:"}.get(kind, kind + ":") + v if kind in ("i32", "i64") else spec)
    sys.exit(0)
open(stem, "wb").write(data)
print("file:" + stem)
PY
}

printf "%-10s %-18s %-34s %-10s %s\n" file launch ours tool sanitizer
for cu in *.cu; do
    name=$(basename "$cu" .cu)
    target=$(head -n 1 "$cu" | sed -n 's|^// target: \(sm_[0-9a-z]*\)$|\1|p')
    "$NVCC" -ptx -arch="${target:-sm_80}" -std=c++17 -O3 -o "$work/$name.ptx" "$cu" \
        || { echo "$name: nvcc failed"; continue; }
    grep '^// launch ' "$cu" | while IFS= read -r line; do
        line=${line#// launch }
        lname=${line%%:*}; rest=${line#*: }
        head=${rest%% -- *}; rest=${rest#* -- }
        args=${rest%% => *}; expect=${rest#* => }
        read -r entry grid block extra1 extra2 <<<"$head"
        shared=0; strict=
        for w in ${extra1:-} ${extra2:-}; do [ "$w" = strict ] && strict=--strict || shared=$w; done
        ours_args=(); launch_args=(); i=0
        for a in $args; do
            ours_args+=(--arg "$a")
            launch_args+=("$(launch_arg "$a" "$work/$lname-$i.bin")")
            i=$((i + 1))
        done
        ours=$(timeout 120 "$BIN" ptx check "$work/$name.ptx" --entry "$entry" --grid "$grid" \
            --block "$block" --shared "$shared" $strict "${ours_args[@]}" 2>&1)
        case $? in
            0) o=$(grep -q "note:" <<<"$ours" && grep -m1 -o "note: [a-z-]*" <<<"$ours" || echo clean) ;;
            1) o=$(grep -m1 -oE ": (deadlock|[a-z]+-[a-z-]+):" <<<"$ours" | tr -d ': ' || echo error)
               grep -q deadlock <<<"$ours" && o=deadlock ;;
            *) o="unusable" ;;
        esac
        [ -n "$strict" ] && o="$o (strict)"
        tools="memcheck racecheck synccheck initcheck"
        if [ "${TOOLS:-all}" = auto ]; then
            case $expect in
                *race*|*same-value*) tools="memcheck racecheck" ;;
                *barrier*|*collective*|deadlock) tools="memcheck synccheck" ;;
                *uninitialised*) tools="memcheck initcheck" ;;
                clean) tools="memcheck racecheck" ;;
                *) tools="memcheck" ;;
            esac
        fi
        for tool in $tools; do
            v=$(sanitize "$tool" 70 "$work/launch" "$work/$name.ptx" "$entry" "$grid" "$block" "$shared" -- "${launch_args[@]}")
            printf "%-10s %-18s %-34s %-10s %s\n" "$name" "$lname" "$o" "$tool" "$v"
        done
    done
done
