#!/usr/bin/env python3
"""PyTorch as a peer for `lawcat --device cuda --dtype bf16 bench scan`: causal softmax
attention forward by torch SDPA on its FlashAttention-2 backend, bf16, batch 1, grouped-query
heads as the bench takes them (--heads, --kv-heads, --head-dim; enable_gqa, no repeat), at
the same lengths. Median of triton.testing.do_bench when triton is there, else of 20 timed
runs after 5 warm-ups, in milliseconds. Run it in the same call, on the same card, as ours.

    python3 scripts/peer_attention.py --lengths 4096,16384,32768 --heads 32 --kv-heads 8

Needs torch with CUDA.
"""

import argparse
import statistics
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.functional import scaled_dot_product_attention as sdpa


def median_ms(f):
    try:
        from triton.testing import do_bench

        return do_bench(f, warmup=25, rep=100, return_mode="median")
    except ImportError:
        for _ in range(5):
            f()
        torch.cuda.synchronize()
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            f()
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", default="1024,4096,16384")
    ap.add_argument("--heads", type=int, default=9)
    ap.add_argument("--kv-heads", type=int, default=3)
    ap.add_argument("--head-dim", type=int, default=64)
    a = ap.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__} SDPA flash, bf16, causal, {torch.cuda.get_device_name(0)}")
    print(f"{'length':>8} {'softmax ms':>14}")
    for n in [int(x) for x in a.lengths.split(",")]:
        q = torch.randn(1, a.heads, n, a.head_dim, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, a.kv_heads, n, a.head_dim, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(1, a.kv_heads, n, a.head_dim, device="cuda", dtype=torch.bfloat16)
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            t = median_ms(lambda: sdpa(q, k, v, is_causal=True, enable_gqa=True))
        print(f"{n:>8} {t:>14.3f}")


if __name__ == "__main__":
    main()
