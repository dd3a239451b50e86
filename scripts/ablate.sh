#!/usr/bin/env bash
# Ablations of the LAWCAT recipe a user can rerun: `lawcat demo` once per variant (the same
# teacher, data, steps and seed; one setting changed), then one table of passkey retrieval
# per variant and evaluation length, and the student's accuracy by needle depth.
#
#   scripts/ablate.sh                         # the built-in teacher, every variant (2-14 min each on 2 cores)
#   scripts/ablate.sh --out runs/abl --variants base,no-conv -- --device cuda --teacher M.gguf
#
# Options: --out DIR (default runs/ablate; each variant in DIR/NAME, the table in
# DIR/table.md), --variants a comma-separated subset of the names below, --bin the lawcat
# binary (default target/release/lawcat, built when missing); everything after `--` goes to
# every `lawcat demo` call. Writes nothing outside DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/ablate
bin=target/release/lawcat
only=""
extra=()
while [ $# -gt 0 ]; do
    case $1 in
        --out) out=$2; shift 2 ;;
        --variants) only=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "ablate.sh: unknown option $1 (see the comment at its top)" >&2; exit 2 ;;
    esac
done
# name: the flags that make the variant (base: the defaults).
variants=(
    "base:"
    "no-conv:--no-conv"
    "per-head-gate:--gate per-head"
    "no-normalize:--no-normalize"
    "gate-tau-4:--gate-tau 4"
    "gate-tau-64:--gate-tau 64"
    "gate-bias-8:--gate-bias-init 8"
    "elu-feature-map:--feature-map elu"
    "feature-dim-128:--feature-dim 128"
    "steps-x3:--stage1-steps 600 --stage2-steps 900"
    "wide-and-long:--feature-dim 128 --stage1-steps 600 --stage2-steps 900"
)
if [ -n "$only" ]; then
    for want in ${only//,/ }; do
        printf '%s\n' "${variants[@]}" | grep -q "^$want:" || { echo "ablate.sh: no variant $want" >&2; exit 2; }
    done
fi
[ -x "$bin" ] || cargo build --release -p lawcat
mkdir -p "$out"
for v in "${variants[@]}"; do
    name=${v%%:*}
    flags=${v#*:}
    if [ -n "$only" ] && ! [[ ",$only," == *",$name,"* ]]; then continue; fi
    echo "== $name: lawcat demo $flags ${extra[*]:-}"
    # shellcheck disable=SC2086
    "$bin" demo --out "$out/$name" --no-progress $flags "${extra[@]}" | tail -n 8
done
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
rows, depth_rows = [], []
for name in sorted(os.listdir(out)):
    f = os.path.join(out, name, "demo.json")
    if not os.path.isfile(f):
        continue
    d = json.load(open(f))
    demo = d["demo"]
    lengths = [r["length"] for r in demo["rows"]]
    rows.append((name, lengths, [r["student"] for r in demo["rows"]], [r["teacher"] for r in demo["rows"]],
                 [s["last_loss"] for s in demo["stages"]]))
    for m in d["eval"]["models"]:
        if m.get("name", m.get("model")) != "student":
            continue
        grid = {}
        for c in m["cells"]:
            grid.setdefault(c["depth"], {})[c["length"]] = c["hits"] / max(c["total"], 1)
        depth_rows.append((name, grid))
if not rows:
    sys.exit("ablate.sh: no demo.json under " + out)
lengths = rows[0][1]
lines = ["| variant | " + " | ".join(f"{l} tok" for l in lengths) + " | stage 1 / 2 last loss |",
         "|---|" + "---|" * len(lengths) + "---|"]
lines.append("| teacher | " + " | ".join(f"{t:.2f}" for t in rows[0][3]) + " | |")
for name, _, s, _, losses in rows:
    lines.append(f"| {name} | " + " | ".join(f"{x:.2f}" for x in s) + " | " + " / ".join(f"{x:.4f}" for x in losses) + " |")
lines += ["", "Student accuracy by needle depth (0: the start of the context), per length:", ""]
for name, grid in depth_rows:
    lines.append(f"{name}: " + "; ".join(
        f"depth {dp}: " + " ".join(f"{grid[dp].get(l, float('nan')):.2f}" for l in lengths) for dp in sorted(grid)))
text = "\n".join(lines) + "\n"
open(os.path.join(out, "table.md"), "w").write(text)
print(text)
PY
