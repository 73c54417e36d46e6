"""Equal-CPU-time sweep of compact widths and depths per arch at x2, ranked by Set5 Y-PSNR.

Every configuration trains from scratch on the same data, batch, patch, schedule shape and seed, for the
same budget of CPU core-seconds: its throughput is measured first (``--warmup`` + ``--timed`` steps of
the real training step) and its cosine schedule is sized to ``budget x it/s`` iterations, so a fast
small net gets more steps than a slow big one. The table answers "which shape buys the most PSNR per
CPU-hour at this budget"; a longer budget favours bigger nets, so read it as a ranking of starting points.

    .venv/bin/python scripts/sweep_x2.py [--budget-core-hours 0.125] [--threads 1] [--only rcan-3x4x32,...]

Runs live in runs/sweep_x2/<config>/ (resumable: rerunning skips finished configurations and resumes a
cut one); the table is written to runs/sweep_x2/results.json and benchmarks/results/sweep_x2.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from restore.paths import REPO_ROOT
from restore.training.core import read_log
from restore.training.equal_time import budget_iterations, measure_throughput, sized_overrides, train_to_end
from restore.training.options import load_options

BASE_RECIPE = REPO_ROOT / "options" / "rcan-compact_x2.yml"
RUN_ROOT = REPO_ROOT / "runs" / "sweep_x2"
RESULTS = REPO_ROOT / "benchmarks" / "results" / "sweep_x2.json"
CURVES = REPO_ROOT / "docs" / "curves" / "sweep_x2.png"

# Pairs of shapes per arch at a similar parameter count (0.2-0.6 M): deeper-narrower against shallower-wider.
# name -> (arch, network[, other recipe overrides])
CONFIGS: dict[str, tuple] = {
    "rcan-3x4x32": ("rcan", {"n_resgroups": 3, "n_resblocks": 4, "n_feats": 32, "reduction": 8}),
    "rcan-2x4x48": ("rcan", {"n_resgroups": 2, "n_resblocks": 4, "n_feats": 48, "reduction": 8}),
    "rcan-4x8x24": ("rcan", {"n_resgroups": 4, "n_resblocks": 8, "n_feats": 24, "reduction": 8}),
    "rdn-D4C4G32": ("rdn", {"G0": 32, "D": 4, "C": 4, "G": 32}),
    "rdn-D6C4G24": ("rdn", {"G0": 32, "D": 6, "C": 4, "G": 24}),
    "san-2x4x32": ("san", {"n_resgroups": 2, "n_resblocks": 4, "n_feats": 32, "reduction": 8}),
    "san-2x3x48": ("san", {"n_resgroups": 2, "n_resblocks": 3, "n_feats": 48, "reduction": 8}),
    "rnan-2x32": ("rnan", {"n_resgroups": 2, "n_feats": 32}),
    # RNAN's full-resolution non-local attention grows with the square of the patch area (63% of a step at
    # 48x48): the same net on 32x32 patches is the shape that fits a CPU budget.
    "rnan-2x32-p32": ("rnan", {"n_resgroups": 2, "n_feats": 32}, {"data.patch_size": 32}),
}


def options_for(name: str, iterations: int, threads: int):
    arch, network, *extra = CONFIGS[name]
    overrides = {
        "name": f"sweep_x2-{name}",
        "arch": arch,
        "network": network,
        **sized_overrides(iterations),
        "log_every": 50,
        "runtime.threads": threads,
        "checkpoint.dir": str(RUN_ROOT / name),
        "checkpoint.every_seconds": 180,
        **(extra[0] if extra else {}),
    }
    return load_options(BASE_RECIPE, overrides)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-core-hours", type=float, default=0.125)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--timed", type=int, default=15)
    parser.add_argument("--only", help="comma-separated configuration names (default: all)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.only.split(",") if args.only else list(CONFIGS)
    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    results_path = RUN_ROOT / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    meta = {"budget_core_hours": args.budget_core_hours, "threads": args.threads,
            "base_recipe": str(BASE_RECIPE.relative_to(REPO_ROOT)),
            "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}"}

    for name in names:
        entry = results.get(name, {})
        if "throughput" not in entry:
            scratch = options_for(name, 10_000, args.threads)
            entry["throughput"] = measure_throughput(scratch, args.warmup, args.timed)
            entry["iterations"] = budget_iterations(args.budget_core_hours * 3600,
                                                    entry["throughput"]["iters_per_core_s"])
            results[name] = entry
            results_path.write_text(json.dumps({"meta": meta, **results}, indent=1))
            print(f"{name}: {entry['throughput']['params']:,} params, "
                  f"{entry['throughput']['iters_per_s']:.2f} it/s -> {entry['iterations']} iterations", flush=True)
        if "set5_psnr" in entry:
            continue
        options = options_for(name, entry["iterations"], args.threads)
        trainer = train_to_end(options, log=lambda message: print(f"[{name}] {message}", flush=True))
        if trainer.iteration < entry["iterations"]:
            # The table and curves still cover every configuration finished so far.
            print(f"{name}: stopped at iteration {trainer.iteration}; rerun to resume", flush=True)
            break
        if not trainer.history or trainer.history[-1]["iteration"] != entry["iterations"]:
            trainer.history.append({"iteration": trainer.iteration, "core_hours": trainer.cpu_seconds / 3600,
                                    "Set5_psnr": trainer.validate()})
        curve = read_log(Path(options.run_dir))
        entry["curve"] = [{"iteration": r["iteration"], "core_hours": round(r["core_hours"], 4),
                           "set5_psnr": round(r["Set5_psnr"], 3)} for r in curve if "Set5_psnr" in r]
        entry["set5_psnr"] = entry["curve"][-1]["set5_psnr"]
        entry["core_hours"] = round(trainer.cpu_seconds / 3600, 4)
        results[name] = entry
        results_path.write_text(json.dumps({"meta": meta, **results}, indent=1))

    ranked = sorted((k for k in results if k != "meta" and "set5_psnr" in results[k]),
                    key=lambda k: -results[k]["set5_psnr"])
    print(f"{'config':<14} {'params':>9} {'it/s':>6} {'iters':>6} {'core-h':>7} {'Set5 x2':>8}")
    for name in ranked:
        entry = results[name]
        print(f"{name:<14} {entry['throughput']['params']:>9,} {entry['throughput']['iters_per_s']:>6.2f} "
              f"{entry['iterations']:>6} {entry['core_hours']:>7.3f} {entry['set5_psnr']:>8.3f}")
    RESULTS.write_text(json.dumps({"meta": meta, **{k: results[k] for k in results if k != "meta"}}, indent=1) + "\n")
    plot_curves({name: results[name] for name in ranked}, CURVES)
    print(f"wrote {RESULTS} and {CURVES}")
    return 0


def plot_curves(results: dict, path: Path) -> Path:
    """Set5 PSNR against core-hours of every configuration, one line each, in ranking order."""
    from restore.figures import pyplot, save_figure

    figure, axis = pyplot().subplots(figsize=(7, 4), dpi=120)
    for name, entry in results.items():
        axis.plot([p["core_hours"] for p in entry["curve"]], [p["set5_psnr"] for p in entry["curve"]],
                  marker="o", markersize=3, label=f"{name} ({entry['throughput']['params'] / 1e6:.2f} M)")
    axis.set_xlabel("training CPU core-hours")
    axis.set_ylabel("Set5 x2 Y-PSNR (dB, EMA)")
    axis.set_title("Equal-time sweep of compact shapes at x2")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    return save_figure(figure, path)


if __name__ == "__main__":
    sys.exit(main())
