#!/usr/bin/env python3
"""PyTorch as a peer for `cargo bench -p tensor --bench matmul`: f32 torch.matmul GFLOP/s at
the same sizes and thread counts (torch.set_num_threads), median and best of runs over about
three seconds each, the same rule as the Rust bench. Run it right after the Rust bench in the same
shell command so both see the same machine load, e.g.

    cargo bench -p tensor --bench matmul && /work/venv-torch/bin/python scripts/peer_matmul.py

Needs torch (CPU build or not: only the CPU is used). Sizes: --sizes 256,1024,2048x2048x8192
(n means n x n x n; m x k x n otherwise); threads: --threads 1,2.
"""

import argparse
import statistics
import time

import torch

DEFAULT_SIZES = "256,512,1024,2048,2048x2048x8192"


def parse_size(s):
    parts = [int(x) for x in s.lower().split("x")]
    if len(parts) == 1:
        return parts * 3
    if len(parts) == 3:
        return parts
    raise SystemExit(f"--sizes: {s!r} is neither n nor m x k x n")


def median_and_best_seconds(f, budget=3.0, min_runs=5, max_runs=50):
    f()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < budget and len(times) < max_runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=DEFAULT_SIZES)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    cap = torch.backends.cpu.get_cpu_capability()
    print(f"PyTorch {torch.__version__} f32 matmul, GFLOP/s (median of runs, then best run); CPU capability: {cap}")
    print(f"{'m x k x n':>16} {'threads':>7} {'torch':>10} | {'best':>8}")
    torch.manual_seed(1)
    for t in threads:
        torch.set_num_threads(t)
        for m, k, n in sizes:
            a = torch.randn(m, k, dtype=torch.float32)
            b = torch.randn(k, n, dtype=torch.float32)
            c = torch.empty(m, n, dtype=torch.float32)
            med, best = median_and_best_seconds(lambda: torch.matmul(a, b, out=c))
            flops = 2 * m * k * n
            print(f"{f'{m}x{k}x{n}':>16} {t:>7} {flops / med / 1e9:>10.1f} | {flops / best / 1e9:>8.1f}")


if __name__ == "__main__":
    main()
