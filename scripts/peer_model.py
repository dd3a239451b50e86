#!/usr/bin/env python3
"""PyTorch as a peer for `lawcat bench model`: prefill forward of SmolLM2-135M (the GGUF that
scripts/fetch-smollm2.sh fetches, dequantized to f32 by transformers) at the same prompt
lengths, token ids and thread count, median of --reps timed runs after one warm-up (the rule
of `lawcat bench model`). Run it right after ours in the same shell command, e.g.

    cargo run --release -p lawcat -- bench model .data/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --lengths 256,1024 --threads 2 && \\
    /work/venv-torch/bin/python scripts/peer_model.py --lengths 256,1024 --threads 2

Needs torch, transformers and gguf.
"""

import argparse
import os
import statistics
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=".data/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--lengths", default="256,1024")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    folder, name = os.path.split(os.path.abspath(args.gguf))
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()
    print(f"PyTorch {torch.__version__}, {args.threads} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"attention {model.config._attn_implementation}")
    print(f"load {args.gguf}: {time.perf_counter() - t0:.2f} s")
    vocab = model.config.vocab_size
    for n in (int(x) for x in args.lengths.split(",")):
        # The ids `lawcat bench model` feeds.
        ids = torch.tensor([[(i * 7919 + 13) % vocab for i in range(n)]])
        with torch.inference_mode():
            model(ids, use_cache=False)
            times = []
            for _ in range(max(args.reps, 1)):
                t = time.perf_counter()
                model(ids, use_cache=False)
                times.append(time.perf_counter() - t)
        s = statistics.median(times)
        print(f"forward {n:>6} tokens: {s * 1e3:>8.1f} ms  {n / s:>8.1f} tokens/s")


if __name__ == "__main__":
    main()
