"""The attention ablation: every attention plug-in in the compact RCAN at x2, trained for equal CPU core-time.

Walks ``options/ablation/attention_plan.yml``: the main table (every variant at seeds 0 and 1), then seed 2 for
the top four by mean Set5, then the SE and GC sub-ablations. Each run trains ``--budget-core-minutes`` of CPU
(its cosine schedule sized to the measured iterations per core-second of its own step, restore/training/
equal_time.py), then restore's benchmark scores its EMA weights on Set5 and Set14 (Y-PSNR, the papers' protocol).

    .venv/bin/python scripts/attention_ablation.py [--budget-core-minutes 10] [--threads 1]
    .venv/bin/python scripts/attention_ablation.py --report      # docs/attention.md and its chart

Resumable: finished runs are skipped (their rows are in the results), a cut run resumes from its checkpoint.
Several workers (the same command started again, e.g. one per idle core) share the walk: each claims the next run
no live worker holds (restore/training/run_claim.py), and a worker with nothing left to claim stops.
SIGTERM or Ctrl-C stops cleanly: a training run checkpoints after its current step; outside training (the timing
of a new variant's step, the evaluation of one set) that phase finishes first, which for full-image attention
(nl, da) can take minutes; a second signal then kills at once. Runs live in runs/attention_ablation/.
Rows go to benchmarks/results/attention_ablation.json after every run; their ``cpu_ms`` (one 256x256 forward)
comes from benchmarks/results/attention_cost.json, written by benchmarks/bench_attention_cost.py.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

from restore.blocks import attention_defaults
from restore.paths import REPO_ROOT
from restore.training.ablation_plan import AblationPlan, load_plan, read_costs, read_rows, write_rows
from restore.training.equal_time import (budget_iterations, measure_throughput, measure_throughputs, sized_overrides,
                                         train_to_end)
from restore.training.options import Options, load_options
from restore.training.run_claim import claim_run, exclusive, release_run
from restore.training.stopping import StopRequest

PLAN = REPO_ROOT / "options" / "ablation" / "attention_plan.yml"
RUNS = REPO_ROOT / "runs" / "attention_ablation"
RESULTS = REPO_ROOT / "benchmarks" / "results" / "attention_ablation.json"
COSTS = REPO_ROOT / "benchmarks" / "results" / "attention_cost.json"
REPORT = REPO_ROOT / "docs" / "attention.md"
CHART = REPO_ROOT / "docs" / "curves" / "attention_ablation.png"


def mean_set5(rows: list[dict[str, Any]], seeds: list[int]) -> dict[str, float]:
    """Mean Set5 PSNR of every variant finished at all of ``seeds``."""
    by_variant: dict[str, dict[int, float]] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], {})[row["seed"]] = row["set5_psnr"]
    return {variant: statistics.mean(scores[seed] for seed in seeds)
            for variant, scores in by_variant.items() if all(seed in scores for seed in seeds)}


# --------------------------------------------------------------------------------------------------- runs
def run_dir(args, variant: str, seed: int) -> Path:
    return args.runs / variant / f"seed{seed}"


def run_options(plan: AblationPlan, variant: str, seed: int, iterations: int, args) -> Options:
    return load_options(plan.recipe, {
        "name": f"attention-ablation-{variant}-seed{seed}",
        "network": plan.network(variant),
        "train.seed": seed,
        **sized_overrides(iterations, args.validations),
        "runtime.threads": args.threads,
        "checkpoint.dir": str(run_dir(args, variant, seed)),
    })


def sizing(plan: AblationPlan, variant: str, seed: int, args) -> dict[str, Any]:
    """The run's step count, fixed when it starts (a cut run keeps its schedule whatever the budget now).

    The throughput is measured once per variant, on the seed-0 model, so every seed of a variant gets the same
    number of steps. On a machine without the runs folder (a fresh one), the rate comes from the record committed
    beside the results (``--measure-throughputs``) before any new probe: a probe timed under other load would give
    a later seed a different budget from the seeds already in the table.
    """
    run_sizing = run_dir(args, variant, seed) / "sizing.json"
    if run_sizing.is_file():
        return json.loads(run_sizing.read_text())
    measured = args.runs / variant / "throughput.json"
    if measured.is_file():
        throughput = json.loads(measured.read_text())
    else:
        recorded = recorded_rates(args).get(variant)
        if recorded is not None:
            throughput = {"iters_per_core_s": recorded, "method": f"recorded in {throughput_record(args).name}"}
        else:
            throughput = measure_throughput(run_options(plan, variant, 0, 10_000, args), args.warmup, args.timed)
        measured.parent.mkdir(parents=True, exist_ok=True)
        measured.write_text(json.dumps(throughput, indent=1) + "\n")
    result = {"budget_core_minutes": args.budget_core_minutes, "iters_per_core_s": throughput["iters_per_core_s"],
              "iterations": budget_iterations(args.budget_core_minutes * 60, throughput["iters_per_core_s"],
                                              minimum=args.min_iterations)}
    run_sizing.parent.mkdir(parents=True, exist_ok=True)
    run_sizing.write_text(json.dumps(result, indent=1) + "\n")
    return result


def throughput_record(args) -> Path:
    """The committed rates every run's step count came from, beside the results."""
    return args.results.with_name("attention_ablation_throughput.json")


def recorded_rates(args) -> dict[str, float]:
    """Iterations per core-second by variant, as the record holds them (empty without one)."""
    record = throughput_record(args)
    return json.loads(record.read_text())["iters_per_core_s"] if record.is_file() else {}


def measure_all(plan: AblationPlan, args) -> int:
    """Measure every variant's throughput interleaved in this process and write each ``throughput.json``.

    Runs already sized keep their schedule (their ``sizing.json``); the new rates size the runs not yet started.
    """
    names = plan.main + plan.study_variants()  # the variants the plan runs
    print(f"timing {len(names)} variants interleaved ({args.warmup} warm-up steps each, {args.timed} timed)",
          flush=True)
    torch.set_num_threads(args.threads)
    rates = measure_throughputs({name: run_options(plan, name, 0, 10_000, args) for name in names},
                                args.warmup, args.timed, args.rounds)
    for name, throughput in rates.items():
        measured = args.runs / name / "throughput.json"
        measured.parent.mkdir(parents=True, exist_ok=True)
        measured.write_text(json.dumps(throughput, indent=1) + "\n")
        print(f"{name:>16}: {throughput['iters_per_core_s']:.3f} it per core-s", flush=True)
    # The record beside the results: the rates every run's step count came from.
    record = {"command": "scripts/attention_ablation.py --measure-throughputs "
                         f"--threads {args.threads} --timed {args.timed} --rounds {args.rounds}",
              "iters_per_core_s": {name: round(rate["iters_per_core_s"], 4) for name, rate in rates.items()}}
    throughput_record(args).write_text(json.dumps(record, indent=1) + "\n")
    return 0


def evaluate(model: torch.nn.Module, scale: int, sets: list[str], stopping: StopRequest) -> dict[str, float] | None:
    """Y-PSNR per set through restore's benchmark (the papers' protocol); None if a stop came in between sets."""
    from restore.evaluation import run_benchmark

    scores = {}
    for name in sets:
        if stopping.requested:
            return None
        run = run_benchmark([model], [scale], [name], device="cpu", precision="fp32")
        scores[name] = run.results[0].psnr
    return scores


def run_one(plan: AblationPlan, variant: str, seed: int, args, stopping: StopRequest) -> dict[str, Any] | None:
    """Train (or resume) and evaluate one run; its row, or None when a stop request cut it."""
    from restore.zoo import count_gflops

    size = sizing(plan, variant, seed, args)
    if stopping.requested:
        return None
    options = run_options(plan, variant, seed, size["iterations"], args)
    label = f"{variant} seed {seed}"
    print(f"[{label}] {size['iterations']} iterations ({size['iters_per_core_s']:.3f} it per core-s x "
          f"{size['budget_core_minutes']} core-min)", flush=True)
    trainer = train_to_end(options, log=lambda message: print(f"[{label}] {message}", flush=True))
    if trainer.iteration < options.train.iterations or stopping.requested:
        return None
    model = trainer.ema.module if trainer.ema else trainer.model
    scores = evaluate(model, options.scale, plan.eval_sets, stopping)
    if scores is None:
        return None
    network = plan.network(variant)
    row = {
        "variant": variant,
        "attention": network.get("attention", "se"),
        "attention_at": network.get("attention_at", "block"),
        "attention_options": network.get("attention_options", {}),
        "seed": seed,
        "params": sum(tensor.numel() for tensor in trainer.model.state_dict().values()),
        "gflops": round(count_gflops(options.arch, options.scale, json.dumps(network, sort_keys=True),
                                     args.gflops_size), 3),
        "cpu_ms": None,
        "iterations": trainer.iteration,
        "core_hours": round(trainer.cpu_seconds / 3600, 6),
        "budget_core_minutes": size["budget_core_minutes"],
        "iters_per_core_s": round(size["iters_per_core_s"], 4),
        "set5_psnr": round(scores["Set5"], 4),
        "set14_psnr": round(scores["Set14"], 4) if "Set14" in scores else None,
        "curve": [{"iteration": record["iteration"], "core_hours": round(record["core_hours"], 4),
                   "set5_psnr": round(record[f"{options.data.val}_psnr"], 3)} for record in trainer.history],
    }
    print(f"[{label}] Set5 {row['set5_psnr']:.3f} dB" + (f", Set14 {row['set14_psnr']:.3f} dB"
                                                       if row["set14_psnr"] is not None else ""), flush=True)
    return row


def walk(args) -> int:
    """Run every unfinished run of the plan in order, writing the rows after each; stop on request."""
    plan = load_plan(args.plan)
    torch.set_num_threads(args.threads)
    meta = {"plan": _relative(plan.source), "recipe": _relative(plan.recipe), "threads": args.threads,
            "gflops_size": args.gflops_size, "eval_sets": plan.eval_sets,
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"}
    lock = args.runs / "walk.lock"  # shared by the workers: claims and the rows' read-modify-write
    with StopRequest() as stopping:
        while not stopping.requested:
            rows = read_rows(args.results)
            done = {(row["variant"], row["seed"]) for row in rows}
            pending = [run for run in plan.runs(mean_set5(rows, plan.seeds)) if run not in done]
            if not pending:
                print("every run of the plan is finished; --report writes the tables", flush=True)
                return 0
            claimed = next((run for run in pending if claim_run(run_dir(args, *run), lock)), None)
            if claimed is None:
                print(f"the {len(pending)} unfinished run(s) the plan can start now are taken by other workers; "
                      "this one stops", flush=True)
                return 0
            variant, seed = claimed
            try:
                row = run_one(plan, variant, seed, args, stopping)
                if row is None:
                    break
                with exclusive(lock):
                    # Read again: another worker or bench_attention_cost.py may have written meanwhile.
                    rows = [r for r in read_rows(args.results) if (r["variant"], r["seed"]) != (variant, seed)]
                    write_rows(args.results, rows + [row], meta | {"budget_core_minutes": args.budget_core_minutes},
                               read_costs(args.costs))
            finally:
                release_run(run_dir(args, variant, seed), lock)
    print("stopped on request; rerun the same command to resume", flush=True)
    return 0



# ------------------------------------------------------------------------------------------------- report
# name -> the block and its paper, for the report's list (the maths and defaults live in restore/blocks/).
PAPERS = {
    "none": "no attention: RCAB without its gate (a plain residual block)",
    "se": "squeeze-and-excitation (Hu et al., CVPR 2018) = RCAN's channel attention",
    "cca": "contrast-aware channel attention (IMDN, Hui et al., ACM MM 2019): SE on std + mean",
    "cbam": "CBAM (Woo et al., ECCV 2018): channel (avg + max) then spatial, no BN",
    "bam": "BAM (Park et al., BMVC 2018): channel + dilated spatial in parallel, residual, no BN",
    "gc": "global context (GCNet, Cao et al., ICCVW 2019): one attention-pooled context, bottleneck, add",
    "snl": "simplified non-local (GCNet's Fig. 3b): the same context, one 1x1 conv, add",
    "nl": "embedded-Gaussian non-local (Wang et al., CVPR 2018), full resolution, fused attention kernel",
    "cc": "criss-cross (CCNet, Huang et al., ICCV 2019): row + column, H + W - 1 relations, recurrent",
    "da": "dual attention (DANet, Fu et al., CVPR 2019): position (fused kernel) + channel, summed",
    "pa": "pixel attention (PAN, Zhao et al., ECCVW 2020): sigmoid of a 1x1 conv",
    "esa": "enhanced spatial attention (RFDN, Liu et al., ECCVW 2020; RLFN): a mask at reduced resolution",
}


def _defaults(name: str) -> str:
    """The block's options with their defaults."""
    return ", ".join(f"`{option}` {default}" for option, default in attention_defaults(name).items()) or "–"


def summarise(rows: list[dict[str, Any]], costs: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per variant: seeds, params, GFLOPs, CPU ms, mean iterations, and mean and spread of Set5 and Set14.

    The spread is the sample standard deviation over seeds (0 with one seed).
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["variant"], []).append(row)
    summary = {}
    for variant, runs in grouped.items():
        entry = {"seeds": sorted(run["seed"] for run in runs), "params": runs[0]["params"],
                 "gflops": runs[0]["gflops"], "cpu_ms": costs.get(variant),
                 "iterations": round(statistics.mean(run["iterations"] for run in runs)),
                 "core_hours": statistics.mean(run["core_hours"] for run in runs)}
        for name in ("set5", "set14"):
            scores = [run[f"{name}_psnr"] for run in runs if run.get(f"{name}_psnr") is not None]
            entry[name] = statistics.mean(scores) if scores else None
            entry[f"{name}_spread"] = statistics.stdev(scores) if len(scores) > 1 else None
        summary[variant] = entry
    return summary


def _score(entry: dict[str, Any], name: str) -> str:
    if entry[name] is None:
        return "–"
    spread = entry[f"{name}_spread"]
    return f"{entry[name]:.3f}" + (f" ± {spread:.3f}" if spread is not None else " (one seed)")


def _cost(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _place(network: dict[str, Any]) -> str:
    where = "group ends" if network.get("attention_at") == "group" else "every RCAB"
    options = ", ".join(f"{key} {value}" for key, value in network.get("attention_options", {}).items())
    return f"`{network.get('attention', 'se')}` in {where}" + (f" ({options})" if options else "")


def beats_se(summary: dict[str, dict[str, Any]], variants: list[str]) -> list[tuple[str, float]]:
    """Variants whose mean Set5 exceeds se's by more than the larger of the two seed spreads."""
    if "se" not in summary or summary["se"]["set5"] is None or len(summary["se"]["seeds"]) < 2:
        return []
    base = summary["se"]
    found = []
    for variant in variants:
        entry = summary.get(variant)
        if variant == "se" or entry is None or entry["set5"] is None or len(entry["seeds"]) < 2:
            continue
        gain = entry["set5"] - base["set5"]
        if gain > max(entry["set5_spread"], base["set5_spread"]):
            found.append((variant, gain))
    return sorted(found, key=lambda item: -item[1])


def study_findings(plan: AblationPlan, summary: dict[str, dict[str, Any]]) -> list[str]:
    """One line per finished study (every setting at two seeds or more): its best setting, and how far each other
    setting trails it against the larger of the two seed spreads."""
    lines = []
    for title, settings in plan.studies.items():
        entries = [(label, summary.get(variant)) for label, variant in settings.items()]
        if any(entry is None or entry["set5"] is None or len(entry["seeds"]) < 2 for _, entry in entries):
            continue
        best_label, best = max(entries, key=lambda item: item[1]["set5"])
        trailing = []
        for label, entry in entries:
            if label == best_label:
                continue
            gap = entry["set5"] - best["set5"]
            beyond = -gap > max(entry["set5_spread"], best["set5_spread"])
            trailing.append(f"{label} {gap:+.3f} dB ({'beyond' if beyond else 'within'} the spread)")
        lines.append(f"- {title}: {best_label} scores highest ({best['set5']:.3f} dB); " + "; ".join(trailing) + ".")
    return lines


def report_markdown(plan: AblationPlan, rows: list[dict[str, Any]], costs: dict[str, float], chart: str) -> str:
    summary = summarise(rows, costs)
    meta_budget = sorted({row["budget_core_minutes"] for row in rows})
    budget = ", ".join(f"{value:g}" for value in meta_budget) or "–"
    seeds = ", ".join(str(seed) for seed in plan.seeds)
    lines = [
        "# Attention plug-ins in one SR backbone, at equal CPU time",
        "",
        "The attention modules of the CNN-attention literature (`restore.blocks.create_attention`: SE, CCA, CBAM, "
        "BAM, GC, simplified non-local, non-local, criss-cross, dual, pixel attention, ESA) put where RCAN has its "
        "channel attention, in the compact RCAN at x2 (3 groups x 4 RCABs x 32 features, "
        f"`{_relative(plan.recipe)}`: `options/rcan-compact_x2.yml`'s shape, data and recipe). Every run gets the "
        f"same CPU core-time ({budget} core-minutes, one thread), not the same number of steps: its cosine "
        "schedule is sized to its own measured iterations per core-second, so a cheap block trains longer than "
        "an expensive one. The rates come from one timing of every variant, interleaved in one process "
        "(`--measure-throughputs`, `benchmarks/results/attention_ablation_throughput.json`): timed one at a time "
        "on a busy machine, minutes apart, `none` had come out 26% slower than its interleaved rate and its first "
        f"run had trained 731 steps where 989 were its due (Set5 34.61 against 34.93 when rerun). Seeds {seeds} for every variant"
        + (f", seed {plan.third_seed} for the top {plan.third_top} by mean Set5" if plan.third_seed is not None else "")
        + f". {len(rows)} runs so far, {sum(row['core_hours'] for row in rows):.1f} core-hours of training in all "
        "(the rows' `core_hours`; evaluations not counted)"
        + ". Scores: restore's benchmark (the papers' protocol: Y-PSNR, border = scale, uint8 output) of the EMA "
        "weights; mean ± sample standard deviation over seeds. GFLOPs and CPU ms: one forward on a 256x256 LR "
        "input; CPU ms from `benchmarks/bench_attention_cost.py` (one thread, all variants interleaved in one "
        "process, on a quiet machine).",
        "",
        "Reproduce: `.venv/bin/python scripts/attention_ablation.py` (resumable; SIGTERM stops cleanly), "
        "`.venv/bin/python benchmarks/bench_attention_cost.py`, then `scripts/attention_ablation.py --report`. "
        "Rows: `benchmarks/results/attention_ablation.json`. A variant trains and ships like any model: "
        "`network: {attention: cbam}` in a recipe, and the card's `config` carries it.",
        "",
        "## The blocks",
        "",
        "`restore.blocks.create_attention(name, channels, **options)`; in RCAN: `build_model(\"rcan\", scale, "
        "attention=name, attention_options={...}, attention_at=\"block\" | \"group\")`, in a recipe "
        "`network: {attention: name, attention_options: {...}, attention_at: block}`.",
        "",
        "| name | block | options (defaults) |",
        "|---|---|---|",
        *[f"| `{name}` | {paper} | {_defaults(name)} |" for name, paper in PAPERS.items()],
        "",
        "## Main table",
        "",
        "| variant | attention | seeds | params | GFLOPs | CPU ms | iterations | Set5 x2 | Set14 x2 | Δ Set5 vs se |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = summary.get("se", {}).get("set5")
    for variant in plan.main:
        entry = summary.get(variant)
        if entry is None:
            lines.append(f"| {variant} | {_place(plan.variants[variant])} | not run yet | | | | | | | |")
            continue
        delta = "–" if base is None or entry["set5"] is None else f"{entry['set5'] - base:+.3f}"
        lines.append(f"| {variant} | {_place(plan.variants[variant])} | {len(entry['seeds'])} | "
                     f"{entry['params']:,} | {entry['gflops']:.2f} | {_cost(entry['cpu_ms'])} | "
                     f"{entry['iterations']:,} | {_score(entry, 'set5')} | {_score(entry, 'set14')} | {delta} |")
    for title, settings in plan.studies.items():
        lines += ["", f"## {title}", "", "| setting | variant | seeds | params | CPU ms | iterations | Set5 x2 | "
                  "Set14 x2 |", "|---|---|---|---:|---:|---:|---:|---:|"]
        for label, variant in settings.items():
            entry = summary.get(variant)
            if entry is None:
                lines.append(f"| {label} | {variant} | not run yet | | | | | |")
                continue
            lines.append(f"| {label} | {variant} | {len(entry['seeds'])} | {entry['params']:,} | "
                         f"{_cost(entry['cpu_ms'])} | {entry['iterations']:,} | {_score(entry, 'set5')} | "
                         f"{_score(entry, 'set14')} |")
    winners = beats_se(summary, plan.main + plan.study_variants())
    # A conclusion needs every main variant at every seed: with one seed there is no spread to beat.
    finished = all(variant in summary and set(plan.seeds) <= set(summary[variant]["seeds"])
                   for variant in plan.main)
    shown = f"![Set5 x2 Y-PSNR against CPU ms per 256x256 forward]({chart})" if rows else \
        "(The chart appears with the first finished runs.)"
    lines += ["", "## Set5 against CPU time", "", shown, "", "## What it says", ""]
    if not finished:
        lines.append("The main table is not complete yet (every variant at seeds " + seeds + "); no conclusion is drawn "
                     "from a partial table.")
    elif winners:
        named = ", ".join(f"`{variant}` ({gain:+.3f} dB)" for variant, gain in winners)
        lines.append(f"At this budget, {named} beat{'s' if len(winners) == 1 else ''} RCAN's own channel "
                     "attention (`se`) on Set5 by more than the seed spread (the larger of the two standard "
                     f"deviations). By the SR campaign's rule, `{winners[0][0]}` is the next variant it trains at "
                     "full length.")
    else:
        lines.append("At this budget no variant beats RCAN's own channel attention (`se`) on Set5 by more than "
                     "the seed spread: the differences between blocks are within what a change of seed moves.")
    findings = study_findings(plan, summary)
    if findings:
        lines += ["", "The studies (mean Set5 over seeds; a gap counts when it exceeds the larger of the two "
                  "spreads):", "", *findings]
    lines += [
        "",
        "## What it does not say",
        "",
        "- **Short runs favour cheap blocks.** At equal time an expensive block (non-local, dual, criss-cross) "
        "takes far fewer steps than a cheap one, and these runs stop long before any network converges: the "
        "table ranks blocks *at this budget*, which is not the ranking after a full schedule, where a block's "
        "capacity matters more than its step time.",
        "- **Two or three seeds** give a spread, not a confidence interval: a gap within a spread or two is not "
        "a finding.",
        "- **One backbone, one scale, small sets.** The compact RCAN at x2 on Set5 and Set14; the papers measured "
        "on ImageNet/COCO backbones, at full training length.",
        "- **Placement.** Every block sits where RCAN has its channel attention (on each RCAB's residual branch); "
        "`bam-group` is the only run with BAM at stage ends, where its paper puts it. Blocks with a channel "
        "reduction use RCAN's (8), not each paper's 16, so their bottlenecks keep 4 of 32 channels; the SE "
        "study varies it. CBAM and BAM run without their batch norms (SR networks have none).",
        "- **CPU ms** were measured separately from training, on one thread; full-image attention (`nl`, `da`) "
        "grows with the square of the image area, so its cost at 256x256 is far above its cost on the training "
        "patches (48x48).",
    ]
    return "\n".join(lines) + "\n"


def plot_cost(plan: AblationPlan, summary: dict[str, dict[str, Any]], path: Path) -> Path:
    """Mean Set5 against CPU ms per forward (GFLOPs where the costs are not measured yet), one point per variant."""
    from restore.figures import pyplot, save_figure

    variants = [variant for variant in plan.main + plan.study_variants() if variant in summary]
    measured = all(summary[variant]["cpu_ms"] is not None for variant in variants)
    key, label = ("cpu_ms", "CPU ms per 256x256 forward (1 thread)") if measured else (
        "gflops", "GFLOPs per 256x256 forward (CPU ms not measured yet)")
    figure, axis = pyplot().subplots(figsize=(7, 4.5), dpi=120)
    for variant in variants:
        entry = summary[variant]
        if entry["set5"] is None:
            continue
        colour = "tab:blue" if variant in plan.main else "tab:orange"
        axis.errorbar(entry[key], entry["set5"], yerr=entry["set5_spread"], fmt="o", color=colour, capsize=3)
        axis.annotate(variant, (entry[key], entry["set5"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axis.set_xscale("log")
    axis.set_xlabel(label)
    axis.set_ylabel("Set5 x2 Y-PSNR (dB, mean ± sd over seeds)")
    axis.set_title("Attention plug-ins in the compact RCAN at equal CPU time (blue: main, orange: studies)")
    axis.title.set_fontsize(9)
    axis.grid(alpha=0.3)
    return save_figure(figure, path)


def write_report(plan: AblationPlan, rows: list[dict[str, Any]], costs: dict[str, float], report: Path,
                 chart: Path) -> None:
    if rows:
        plot_cost(plan, summarise(rows, costs), chart)
    try:
        chart_link = str(Path(os.path.relpath(chart, report.parent)))
    except ValueError:
        chart_link = str(chart)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(report_markdown(plan, rows, costs, chart_link))

def _relative(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", type=Path, default=PLAN)
    parser.add_argument("--budget-core-minutes", type=float, default=10.0, help="CPU core-minutes per run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before the throughput is timed")
    parser.add_argument("--timed", type=int, default=15, help="timed steps of the throughput measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --measure-throughputs' interleaving")
    parser.add_argument("--measure-throughputs", action="store_true",
                        help="time every variant interleaved, write their throughput.json, and stop")
    parser.add_argument("--min-iterations", type=int, default=50)
    # Two: one mid-run point for the curve and the end. Each costs a Set5 pass, which for full-image attention
    # (nl, da: the 256x256 baby) takes minutes on one thread.
    parser.add_argument("--validations", type=int, default=2, help="Set5 checks during each run (the curve)")
    parser.add_argument("--gflops-size", type=int, default=256, help="LR side of the GFLOPs count")
    parser.add_argument("--runs", type=Path, default=RUNS)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--costs", type=Path, default=COSTS)
    parser.add_argument("--report", action="store_true", help="write the report from the results and stop")
    parser.add_argument("--report-path", type=Path, default=REPORT)
    parser.add_argument("--chart", type=Path, default=CHART)
    args = parser.parse_args(argv)
    if args.report:
        write_report(load_plan(args.plan), read_rows(args.results), read_costs(args.costs), args.report_path,
                     args.chart)
        rows = read_rows(args.results)
        print(f"wrote {args.report_path}" + (f" and {args.chart}" if rows else " (no finished run: no chart yet)"))
        return 0
    if args.measure_throughputs:
        return measure_all(load_plan(args.plan), args)
    return walk(args)


if __name__ == "__main__":
    sys.exit(main())
