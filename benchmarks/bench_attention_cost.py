"""CPU time of one 256x256 forward of every variant of the attention ablation, interleaved in one process.

Every variant of ``options/ablation/attention_plan.yml`` (the compact RCAN x2 with each attention plug-in) is
built with seeded random weights (time does not depend on the values) and run on the same 256x256 LR input,
whole, under ``torch.inference_mode``, on ``--threads`` threads (1: the ablation's training budget is per core).
One warm-up forward each, then ``--repeats`` rounds that time every variant once per round, in plan order: a
load spike on the machine then touches every variant alike instead of one. The median of each variant's process
CPU time is its ``cpu_ms`` (wall time is recorded too). Run it on a quiet machine; full-image attention (nl, da)
takes on the order of a minute per forward at 256x256 on one thread, so a full run is tens of minutes.

    .venv/bin/python benchmarks/bench_attention_cost.py [--size 256] [--repeats 3] [--threads 1] [--only se,cbam]

Writes benchmarks/results/attention_cost.json and fills the ``cpu_ms`` column of
benchmarks/results/attention_ablation.json (when it exists) from it.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from restore.archs import build_model
from restore.training.ablation_plan import load_plan, read_costs, read_rows, write_rows
from restore.training.hardware import describe_hardware

ROOT = Path(__file__).resolve().parent.parent
PLAN = ROOT / "options" / "ablation" / "attention_plan.yml"
COSTS = Path(__file__).parent / "results" / "attention_cost.json"
ABLATION = Path(__file__).parent / "results" / "attention_ablation.json"


def timed(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """(CPU ms, wall ms) of one forward."""
    wall, cpu = time.perf_counter(), time.process_time()
    model(x)
    return (time.process_time() - cpu) * 1e3, (time.perf_counter() - wall) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", type=Path, default=PLAN)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", help="comma-separated variants (default: every variant of the plan)")
    parser.add_argument("--costs", type=Path, default=COSTS)
    parser.add_argument("--ablation", type=Path, default=ABLATION)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    plan = load_plan(args.plan)
    variants = args.only.split(",") if args.only else plan.main + plan.study_variants()
    scale = 2
    models = {}
    for variant in variants:
        torch.manual_seed(0)
        models[variant] = build_model("rcan", scale, **plan.network(variant)).eval()
    x = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0)) * 255
    runs: dict[str, list[tuple[float, float]]] = {variant: [] for variant in variants}
    with torch.inference_mode():
        for variant, model in models.items():
            print(f"warm-up {variant}: {timed(model, x)[1]:.0f} ms", flush=True)
        for round_index in range(args.repeats):
            for variant, model in models.items():
                runs[variant].append(timed(model, x))
            print(f"round {round_index + 1}/{args.repeats}: "
                  + ", ".join(f"{v} {runs[v][-1][0]:.0f}" for v in variants), flush=True)

    rows = [{"variant": variant, "attention": plan.network(variant).get("attention", "se"),
             "cpu_ms": round(statistics.median(cpu for cpu, _ in runs[variant]), 1),
             "wall_ms": round(statistics.median(wall for _, wall in runs[variant]), 1),
             "runs_cpu_ms": [round(cpu, 1) for cpu, _ in runs[variant]]} for variant in variants]
    earlier = {row["variant"]: row for row in read_rows(args.costs)}
    earlier.update({row["variant"]: row for row in rows})
    meta = {"size": args.size, "repeats": args.repeats, "threads": args.threads, "scale": scale,
            "hardware": describe_hardware(torch.device("cpu")),
            "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
            "measured": time.strftime("%Y-%m-%d")}
    args.costs.parent.mkdir(parents=True, exist_ok=True)
    args.costs.write_text(json.dumps({"meta": meta, "rows": list(earlier.values())}, indent=1) + "\n")
    if args.ablation.is_file():
        ablation = json.loads(args.ablation.read_text())
        write_rows(args.ablation, ablation["rows"], ablation.get("meta", {}), read_costs(args.costs))
    for row in rows:
        print(f"{row['variant']:<16} {row['cpu_ms']:>10.1f} CPU ms  {row['wall_ms']:>10.1f} ms")
    print(f"wrote {args.costs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
