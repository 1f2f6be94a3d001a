#!/usr/bin/env bash
# GPU smoke test at paper scale (perf/gpu_smoke.py): a LLaVA-1.5-7B-shaped model with random weights, bf16,
# 336 px, 576 image tokens; no downloads. Batched generation at batch 1 and 64, the reference pass, a few
# DPO steps with LoRA; prints tokens/s, s/step and peak GPU memory. Budget: 8 minutes on one H200, then
# 2 more for the 2-job local grid, then (where vLLM imports) 3 more for perf/vllm_handover.py: a new vLLM
# engine per θ against one engine in sleep mode given θ's weights (issue 29's measured choice).
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
timeout 480 "$PYTHON" "$here/gpu_smoke.py" "$@"
# Then the cluster path on this GPU (docs/cluster.md): a 2-job grid, θ1 then θ2 of the tiny model, as processes of
# submitit's local executor (needs the whole harness and submitit: pip install -e ".[cluster]"); ~2 minutes.
if "$PYTHON" -c "import harness.cli, submitit" 2>/dev/null; then
  grid="$(mktemp -d)"
  timeout 300 "$PYTHON" -m harness.cli sweep --method sena --iters 2 --images-per-iter 8 --eval none \
    --runs-dir "$grid/runs" --out "$grid/jobs" --executor local
  "$PYTHON" -m harness.cli status "$grid/jobs"
else
  echo "gpu_smoke: the 2-job grid skipped (harness or submitit not importable)"
fi
if "$PYTHON" -c "import vllm, harness" 2>/dev/null; then
  timeout 180 "$PYTHON" "$here/vllm_handover.py" --json /tmp/vllm_handover.json || echo "gpu_smoke: vllm_handover failed (above)"
else
  echo "gpu_smoke: vllm_handover skipped (vllm or harness not importable)"
fi
