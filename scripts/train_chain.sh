#!/usr/bin/env bash
# Train SR recipes one after another (one background job per core), exporting each when it finishes so that
# a later recipe can start from it (train.init_from: models/<name>_x2.safetensors). The export here skips the
# benchmark (minutes of CPU); re-export with `restore zoo export ... --self-ensemble` to measure the card.
#
#   nohup scripts/train_chain.sh options/san-compact_x2.yml options/san-compact_x4.yml > runs/chain.log 2>&1 &
#
# Stop: `pkill -TERM -f train_chain.sh; pkill -TERM -f "restore train"` (the run checkpoints; the chain ends).
# Rerunning resumes the cut run and skips finished ones (restore train resumes from its latest checkpoint).
set -euo pipefail
cd "$(dirname "$0")/.."
for recipe in "$@"; do
    name=$(basename "$recipe" .yml)
    .venv/bin/restore train "$recipe"
    total=$(.venv/bin/python -c "import sys; from restore.training.options import load_options; print(load_options(sys.argv[1]).train.iterations)" "$recipe")
    checkpoint=$(ls runs/"$name"/checkpoint_*.pt | sort | tail -n 1)
    reached=$(basename "$checkpoint" .pt | sed 's/checkpoint_0*//')
    if [ "$reached" != "$total" ]; then
        echo "train_chain: $name stopped at $reached of $total iterations; chain ends here" >&2
        exit 1
    fi
    .venv/bin/restore zoo export "$checkpoint" --name "${name%_x*}" --no-bench
done
