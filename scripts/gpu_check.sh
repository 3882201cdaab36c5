#!/usr/bin/env bash
# The generator's checks that need a GPU, as one short script for a lent device machine (its python3
# already holds torch, safetensors, tqdm, numpy, pillow, scipy and pytest). Writes its log to $OUT.
#   device run:  bash scripts/gpu_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
{
  echo "== device"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
  echo "== generator tests on CUDA and CPU"
  python3 -m pytest tests/generator tests/phantoms -q -p no:cacheprovider -o addopts="" 2>&1 | tail -15
  echo "== bundled 64 px model: batched vs one per forward, latent average"
  python3 -m generator.benchmark fixtures/models/generator-demo64.safetensors --device cuda --batch 256 --n 4096 --n-loop 256
  echo "== 256 px (real256 preset, untrained weights: speed only), bf16, batch 256"
  python3 -m generator.benchmark --untrained real256 --device cuda --batch 256 --n 2048 --n-loop 128
} 2>&1 | tee "$OUT/gpu-check.log"
