#!/usr/bin/env bash
# One command for a lent GPU machine: train options/gpu_campaign.yml (or --plan FILE) for ~8 minutes in bf16,
# saving float16 weights + cards into $OUT every 2 minutes (docs/training.md, "A lent GPU").
#   scripts/gpu_campaign.sh                 # on the lent machine (needs cache/gpu: scripts/pack_gpu_cache.py)
#   scripts/gpu_campaign.sh --dry-run       # here, on the CPU, in about two minutes, into $OUT or a temp folder
#   scripts/gpu_campaign.sh --plan options/gpu_campaign_rcan.yml   # the paper's RCAN, x2 then x4
set -euo pipefail
cd "$(dirname "$0")/.."
# This checkout's venv when there is one; the lent machine's python3 already holds torch and the rest.
python=python3
if [ -x .venv/bin/python ]; then python=.venv/bin/python; fi
export PYTHONUNBUFFERED=1
exec "$python" scripts/gpu_campaign.py "$@"
