"""Reference values for the GGML block decoders in nn/src/gguf/quant.rs.

Random block bytes (scale fields set to sane f16 values) dequantized by llama.cpp's own
Python package (`pip install gguf numpy`, gguf.quants.dequantize), an implementation
independent of ours. Writes ggml_blocks.json beside this script.
"""
import json, os
import numpy as np
from gguf import GGMLQuantizationType as T, quants

rng = np.random.default_rng(20261129)
# (type, block bytes, offsets of f16 scale fields inside a block)
layouts = {
    "Q4_0": (T.Q4_0, 18, [0]), "Q4_1": (T.Q4_1, 20, [0, 2]), "Q5_0": (T.Q5_0, 22, [0]),
    "Q5_1": (T.Q5_1, 24, [0, 2]), "Q8_0": (T.Q8_0, 34, [0]), "Q2_K": (T.Q2_K, 84, [80, 82]),
    "Q3_K": (T.Q3_K, 110, [108]), "Q4_K": (T.Q4_K, 144, [0, 2]), "Q5_K": (T.Q5_K, 176, [0, 2]),
    "Q6_K": (T.Q6_K, 210, [208]),
}
out = {}
for name, (qt, size, scale_at) in layouts.items():
    blocks = rng.integers(0, 256, size=(3, size), dtype=np.uint8)
    for b in blocks:
        for at in scale_at:
            b[at:at + 2] = np.frombuffer(np.float16(rng.uniform(-0.1, 0.1)).tobytes(), dtype=np.uint8)
    vals = quants.dequantize(blocks.reshape(-1), qt)
    out[name] = {"bytes": blocks.reshape(-1).tobytes().hex(), "values": [float(v) for v in np.asarray(vals, dtype=np.float32).reshape(-1)]}
json.dump(out, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "ggml_blocks.json"), "w"))
print({k: len(v["values"]) for k, v in out.items()})
