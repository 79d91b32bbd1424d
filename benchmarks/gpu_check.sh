#!/usr/bin/env bash
# The one prepared check for a lent CUDA machine (no data mirror, no spaCy or gensim
# there): the CUDA tests of the erasure engine, then the erasure benchmark on the GPU and
# on that machine's CPU, on the model and test reviews of a bundle written here first by
#   python benchmarks/erasure.py --export-bundle .devbundle
# Outputs go to $OUT (default /tmp/gpu-check); docs/benchmarks.md records them.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" \
  | tee -a "$OUT/gpu.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_erasure.py 2>&1 | tee "$OUT/pytest.txt"
python3 benchmarks/erasure.py --bundle .devbundle --device cuda --reference-docs 100 \
  --json "$OUT/bench_cuda.json" --results-out "$OUT/results_cuda.parquet" 2>&1 \
  | tee "$OUT/bench_cuda.txt"
python3 benchmarks/erasure.py --bundle .devbundle --device cpu --reference-docs 20 \
  --json "$OUT/bench_cpu.json" 2>&1 | tee "$OUT/bench_cpu.txt"
