#!/usr/bin/env bash
# GPU smoke test at paper scale (perf/gpu_smoke.py): a LLaVA-1.5-7B-shaped model with random weights, bf16,
# 336 px, 576 image tokens; no downloads. Batched generation at batch 1 and 64, the reference pass, a few
# DPO steps with LoRA; prints tokens/s, s/step and peak GPU memory. Budget: 8 minutes on one H200.
# Needs python with torch (CUDA), transformers, peft, accelerate; not trl, diffusers or openai.
#   bash perf/gpu_smoke.sh [--json /tmp/gpu_smoke.json]      (extra arguments go to gpu_smoke.py)
#   bash perf/gpu_smoke.sh --tiny                              (the CPU check: tiny config, measures nothing)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
PYTHON="${PYTHON:-python}"
"$PYTHON" - <<'PY'
import importlib.util, sys
missing = [m for m in ("torch", "transformers", "peft") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"gpu_smoke: missing packages: {', '.join(missing)}")
PY
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader || true
fi
exec timeout 480 "$PYTHON" "$here/gpu_smoke.py" "$@"
