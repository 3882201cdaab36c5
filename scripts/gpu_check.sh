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
  echo "== training images/s, one GPU: real256 preset at batch 256 in bf16, and fp32 at batch 64"
  python3 -m generator.benchmark --untrained real256 --train --device cuda --batch 256 --precision bf16 --train-steps 16
  python3 -m generator.benchmark --untrained real256 --train --device cuda --batch 64 --precision fp32 --train-steps 16
  echo "== training on every GPU of this node: torchrun, NCCL, bf16; then a resume"
  NGPU=$(nvidia-smi -L | wc -l)
  python3 -m phantoms "$OUT/phantoms64" --per-class 8 --size 64 >/dev/null
  TRAIN=(-m generator train "$OUT/phantoms64" --config demo64 --out "$OUT/run" --batch $((16 * NGPU)) --precision bf16 --checkpoint-every 10 --style-mixing 0.9 --pl-weight 2 --ada-target 0.6)
  python3 -m torch.distributed.run --standalone --nproc_per_node "$NGPU" "${TRAIN[@]}" --steps 20 2>&1 | grep -E "world size|exported|Error"
  python3 -m torch.distributed.run --standalone --nproc_per_node "$NGPU" "${TRAIN[@]}" --steps 30 2>&1 | grep -E "resumed|exported|Error"
  tail -n 1 "$OUT/run/training-log.jsonl"
} 2>&1 | tee "$OUT/gpu-check.log"
