#!/usr/bin/env bash
# The GPU confirmation run, in one command on a machine with an NVIDIA GPU (our H200): every
# kernel against the CPU (and under compute-sanitizer), the planted-bug kernels under the
# sanitizer's four tools, the tiny fixture teacher distilled on the GPU and on the CPU (their
# losses compared), the Llama audit on the GPU, greedy generation of SmolLM2 on both, the
# demo, bf16 distillation-step throughput in the SmolLM2-135M and Llama-3.2-1B shapes at 8 x
# 1024 (and PyTorch + fla's, with ANCHORS=a copy of the anchors folder), the teacher's
# attention against torch SDPA, and the host CPU's matmul against
# matrixmultiply and PyTorch (MMBENCH: the tensor matmul bench binary; TUNE: the gemm_tune
# example, whose best tile and blocking at 2048^3 then run through the bench as well; AVX2=1:
# also both capped to AVX2, our kernel and MKL's). Logs go to $OUT (or
# ./gpu-check-out). Built binaries come from BIN (default .gpu/lawcat); SmolLM2 from GGUF
# (default .data/SmolLM2-135M-Instruct.Q4_1.gguf); PART selects parts, comma-separated (all by default): verify, sanitize,
# planted, distill, devices, audit, generate, demo, step, cpu.
#
#   BIN=.gpu/lawcat scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.gpu/lawcat}
GGUF=${GGUF:-.data/SmolLM2-135M-Instruct.Q4_1.gguf}
OUT=${OUT:-gpu-check-out}
PART=${PART:-all}
mkdir -p "$OUT"
run() { # name, command...: runs, logs to $OUT/name.log, prints the tail and the time
    local name=$1; shift
    local t0=$EPOCHREALTIME
    timeout "${TMO:-300}" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    local t1=$EPOCHREALTIME
    printf '== %s: exit %d, %s s\n' "$name" "$rc" "$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")"
    tail -n "${TAILN:-12}" "$OUT/$name.log"
    return 0
}
want() { [ "$PART" = all ] || [[ ",$PART," == *",$1,"* ]]; }

nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
if want verify; then
    run verify "$BIN" --device cuda verify-kernels --cases 10
    TAILN=20 run verify-large "$BIN" --device cuda verify-kernels --cases 3 --large
    grep -hE -B1 -A3 'FAIL|fail|error|panicked' "$OUT/verify.log" "$OUT/verify-large.log" | grep -v '^kernel ' | head -40
fi
if want sanitize; then
    TAILN=6 run memcheck compute-sanitizer --tool memcheck --error-exitcode 99 "$BIN" --device cuda verify-kernels --cases 1
    TAILN=6 run racecheck compute-sanitizer --tool racecheck --error-exitcode 99 "$BIN" --device cuda verify-kernels --cases 1
    TAILN=6 run synccheck compute-sanitizer --tool synccheck --error-exitcode 99 "$BIN" --device cuda verify-kernels --cases 1
    TAILN=6 run initcheck compute-sanitizer --tool initcheck --error-exitcode 99 "$BIN" --device cuda verify-kernels --cases 1
fi
if want planted; then
    TAILN=70 LIMIT=10 run planted bash ptx/interp/tests/sanitizer/run.sh
fi
if want distill; then
    for dev in cpu cuda; do
        rm -rf "/tmp/distill-$dev"
        run "distill-$dev" "$BIN" --device "$dev" distill --teacher builtin --seq-len 64 --batch-size 4 \
            --stage1-steps 20 --stage2-steps 20 --lr2 3e-3 --checkpoint-every 0 --out "/tmp/distill-$dev" --no-progress
        cp "/tmp/distill-$dev/metrics.jsonl" "$OUT/metrics-$dev.jsonl" 2>/dev/null
    done
    python3 - "$OUT/metrics-cpu.jsonl" "$OUT/metrics-cuda.jsonl" <<'PY' | tee "$OUT/distill-compare.txt"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
worst = max(abs(x["loss"] - y["loss"]) / max(abs(x["loss"]), 1e-12) for x, y in zip(a, b))
print(f"{len(a)} / {len(b)} steps; largest relative loss difference cpu vs cuda: {worst:.3e}")
for x, y in list(zip(a, b))[::5]:
    print(f"stage {x['stage']} step {x['step']:>3}: cpu {x['loss']:.6e}  cuda {y['loss']:.6e}")
PY
fi
if want devices && [ -n "${DEVTEST:-}" ]; then
    run devices "$DEVTEST" --test-threads 1 moves_only
    run devices-generate "$DEVTEST" --test-threads 1 generation_moves
fi
if want audit; then
    for f in tiny-llama tiny-llama-bf16-tied; do
        run "audit-$f" "$BIN" --device cuda audit llama "fixtures/$f/reference.safetensors" --model "fixtures/$f"
        # mixed precision: bf16 weights, bf16 matmuls with f32 accumulation (bf16 bounds)
        run "audit-bf16-$f" "$BIN" --device cuda --dtype bf16 audit llama "fixtures/$f/reference.safetensors" --model "fixtures/$f" \
            --tol-values 3e-2 --tol-loss 1e-2 --tol-grads 1e-1
    done
fi
if want generate && [ -f "$GGUF" ]; then
    for dev in cpu cuda; do
        run "generate-$dev" "$BIN" --device "$dev" generate "$GGUF" --prompt "The capital of France is" --max-new-tokens 16 --temperature 0
    done
fi
if want demo; then
    run demo-cuda "$BIN" --device cuda demo --out /tmp/demo-cuda
fi
if want step; then
    # The distillation step in the real models' shapes (random weights, as the peer), then the
    # peer itself when ANCHORS names a copy of the anchors folder (its script and fla wheels).
    for shape in smollm2-135m llama-3.2-1b; do
        run "step-$shape" "$BIN" --device cuda --dtype bf16 bench step "shape:$shape" --batch 8 --seq-len 1024 --steps 3
    done
    if [ -n "${ANCHORS:-}" ]; then
        python3 -m pip install -q --no-index --no-deps --target /tmp/fla-site "$ANCHORS"/wheels/*.whl
        TMO=600 run peer-step env PYTHONPATH=/tmp/fla-site python3 "$ANCHORS/distill_step_anchor.py"
    fi
    # The teacher's attention against torch SDPA's FlashAttention-2 (Llama-3.2-1B's heads).
    run scan "$BIN" --device cuda --dtype bf16 bench scan --lengths 4096,16384,32768 --heads 32 --kv-heads 8
    run peer-attention python3 scripts/peer_attention.py --lengths 4096,16384,32768 --heads 32 --kv-heads 8
fi
if want cpu && [ -n "${MMBENCH:-}" ]; then
    lscpu | grep -E 'Model name|Flags|L1d|L2|L3' | sed 's/Flags:.*\(avx512[a-z_0-9]*\).*/AVX-512 present/' > "$OUT/cpu.txt"
    # Two physical cores (not two hyperthreads of one), like our 2-core machines; pinned, so the
    # host's other work moves elsewhere.
    CORES=$(lscpu -p=CPU,CORE,SOCKET | grep -v '^#' | awk -F, '!seen[$2 "," $3]++ { print $1 }' | head -2 | paste -sd,)
    echo "pinned to CPUs $CORES" >> "$OUT/cpu.txt"
    cat "$OUT/cpu.txt"
    PIN="taskset -c $CORES"
    # TUNE: the gemm_tune example binary. It compares the AVX-512 tile shapes; the fastest at
    # 2048^3 then gets a blocking grid at 1024^3 and 2048^3, and that tile with the best
    # blocking runs through the bench as well ("tuned"), beside the default.
    if [ -n "${TUNE:-}" ]; then
        TAILN=30 run gemm-tiles env MATMUL_NUM_THREADS=1 TUNE_TILES=1 $PIN "$TUNE" 2048
        TILE=$(awk '/^2048x/ { f = 1; next } /^[0-9]/ { f = 0 } f && /TILE=/ { print $2, $1 }' "$OUT/gemm-tiles.log" | sort -rn | head -1 | sed 's/.*=//')
        for n in 1024 2048; do
            TAILN=8 run "gemm-tune-$n" env MATMUL_NUM_THREADS=1 LAWCAT_AVX512_TILE="$TILE" $PIN "$TUNE" "$n" 192,256,384,512,1024 96,144,288,480,960 2048,4096
        done
        BEST=$(grep -m1 '^kc' "$OUT/gemm-tune-2048.log" | awk '{ print $2 "," $4 "," $6 }' | tr -d :)
        echo "tuned: LAWCAT_AVX512_TILE=$TILE LAWCAT_GEMM_BLOCKS=$BEST"
    fi
    # Ours and PyTorch alternated, so that both see the host's swings in load and clock.
    for i in 1 2 3; do
        TAILN=30 run "matmul-ours-$i" $PIN "$MMBENCH" --bench
        TAILN=30 run "matmul-torch-$i" $PIN python3 scripts/peer_matmul.py --threads 1,2
        if [ -n "${BEST:-}" ]; then
            TAILN=30 run "matmul-tuned-$i" env LAWCAT_AVX512_TILE="$TILE" LAWCAT_GEMM_BLOCKS="$BEST" $PIN "$MMBENCH" --bench
        fi
        # AVX2=1: an AVX2-only machine as far as both can tell: our AVX2 kernel, MKL's AVX2 path.
        if [ -n "${AVX2:-}" ]; then
            TAILN=30 run "matmul-ours-avx2-$i" env LAWCAT_SIMD=avx2 $PIN "$MMBENCH" --bench
            TAILN=30 run "matmul-torch-avx2-$i" env MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2 $PIN python3 scripts/peer_matmul.py --threads 1,2
        fi
    done
fi
