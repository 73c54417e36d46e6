"""CPU training throughput of the compact configurations: the levers, each arch, one run.

For each arch's compact shape (x2, batch 16 of 48x48 LR patches, the real ``Trainer.step``: cached patches,
L1, Adam, EMA) it measures iterations/s and samples/s for:

- ``base``: 2 threads, channels_last, eager (the recipes' setting);
- ``contiguous``: 2 threads, NCHW memory format;
- ``1-thread``: 1 thread, channels_last (two such runs side by side use both cores);
- ``compile``: 2 threads, channels_last, ``torch.compile`` (inductor, C++ codegen; compile time reported apart);
- ``compile-1-thread``: the same on 1 thread (the recipes train two one-thread runs side by side);

plus the time to draw a batch from the patch cache, and the share of a training step spent in each arch's
attention modules (forward + backward of the captured module inputs, timed alone). Variants are measured in
interleaved rounds (median over rounds), so machine noise hits all alike; compare ratios within this run.

    .venv/bin/python benchmarks/bench_train_cpu.py [--archs rcan,rdn,san,rnan] [--rounds 3] [--steps 4] [--no-compile]
        [--variants base,1-thread,...] [--out benchmarks/results/train_cpu.json]

"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from restore.blocks.channel_attention import CALayer
from restore.blocks.nonlocal_attention import NonLocalBlock
from restore.blocks.region_nonlocal import RegionNonLocal
from restore.blocks.second_order_attention import SecondOrderChannelAttention
from restore.paths import REPO_ROOT
from restore.training.options import load_options
from restore.training.trainer import Trainer

RESULTS = Path(__file__).parent / "results" / "train_cpu.json"
BASE_RECIPE = REPO_ROOT / "options" / "rcan-compact_x2.yml"
COMPACT = {
    "rcan": {"n_resgroups": 3, "n_resblocks": 4, "n_feats": 32, "reduction": 8},
    "rdn": {"G0": 32, "D": 4, "C": 4, "G": 32},
    "san": {"n_resgroups": 2, "n_resblocks": 4, "n_feats": 32, "reduction": 8},
    "rnan": {"n_resgroups": 2, "n_feats": 32},
}
ATTENTION_TYPES = (CALayer, NonLocalBlock, RegionNonLocal, SecondOrderChannelAttention)
VARIANTS = {
    "base": {"threads": 2, "channels_last": True, "compile": False},
    "contiguous": {"threads": 2, "channels_last": False, "compile": False},
    "1-thread": {"threads": 1, "channels_last": True, "compile": False},
    "compile": {"threads": 2, "channels_last": True, "compile": True},
    "compile-1-thread": {"threads": 1, "channels_last": True, "compile": True},
}


def make_trainer(arch: str, variant: dict) -> Trainer:
    overrides = {
        "name": f"bench-{arch}", "arch": arch, "network": COMPACT[arch],
        "runtime.channels_last": variant["channels_last"], "runtime.compile": variant["compile"],
        "checkpoint.dir": str(REPO_ROOT / "runs" / "_bench_train_cpu"),
    }
    return Trainer(load_options(BASE_RECIPE, overrides), log=lambda message: None)


def timed_steps(trainer: Trainer, threads: int, steps: int) -> float:
    torch.set_num_threads(threads)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(1e-4)
    return (time.perf_counter() - start) / steps


def attention_seconds(trainer: Trainer, threads: int, repeats: int = 3) -> dict[str, float]:
    """Forward + backward time per training step of each attention module type, on captured inputs."""
    torch.set_num_threads(threads)
    captured: list[tuple[nn.Module, torch.Tensor]] = []
    hooks = [
        module.register_forward_pre_hook(lambda module, args: captured.append((module, args[0].detach())))
        for module in trainer.model.modules() if isinstance(module, ATTENTION_TYPES)
    ]
    trainer.step(1e-4)
    for hook in hooks:
        hook.remove()
    seconds: dict[str, float] = {}
    for module, inputs in captured:
        samples = []
        for _ in range(repeats):
            leaf = inputs.clone().requires_grad_()
            start = time.perf_counter()
            module(leaf).sum().backward()
            samples.append(time.perf_counter() - start)
        name = type(module).__name__
        seconds[name] = seconds.get(name, 0.0) + statistics.median(samples)
    trainer.model.zero_grad(set_to_none=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", default="rcan,rdn,san,rnan")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated; base is always timed")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    wanted = {"base", *args.variants.split(",")}
    variants = {k: v for k, v in VARIANTS.items() if k in wanted and not (args.no_compile and v["compile"])}
    report: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} cores visible to torch",
        "torch": torch.__version__, "batch": 16, "lr_patch": 48, "scale": 2, "configs": COMPACT, "archs": {},
    }
    for arch in args.archs.split(","):
        trainers, compile_seconds = {}, {}
        for name, variant in variants.items():
            trainer = make_trainer(arch, variant)
            _ = trainer.sampler
            torch.set_num_threads(variant["threads"])
            start = time.perf_counter()
            trainer.step(1e-4)  # warm-up (and, for compile, the compilation)
            if variant["compile"]:
                compile_seconds[name] = time.perf_counter() - start
            trainer.step(1e-4)
            trainers[name] = trainer
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, variant in variants.items():
                samples[name].append(timed_steps(trainers[name], variant["threads"], args.steps))
        torch.set_num_threads(2)
        base = trainers["base"]
        batch_start = time.perf_counter()
        for i in range(20):
            base.batch(10_000 + i)
        batch_seconds = (time.perf_counter() - batch_start) / 20
        step = {name: statistics.median(values) for name, values in samples.items()}
        attention = attention_seconds(base, 2)
        entry = {
            "params": sum(p.numel() for p in base.model.parameters()),
            "seconds_per_step": step,
            "iters_per_s": {name: 1 / value for name, value in step.items()},
            "samples_per_s": {name: 16 / value for name, value in step.items()},
            "speed_vs_base": {name: step["base"] / value for name, value in step.items()},
            "compile_seconds": compile_seconds,
            "batch_draw_seconds": batch_seconds,
            "attention_seconds_per_step": attention,
            "attention_share_of_step": {name: value / step["base"] for name, value in attention.items()},
        }
        report["archs"][arch] = entry
        print(f"{arch}: " + "  ".join(f"{name} {1 / value:.2f} it/s" for name, value in step.items())
              + f"  | batch draw {batch_seconds * 1e3:.1f} ms | attention "
              + ", ".join(f"{k} {v / step['base']:.0%}" for k, v in attention.items()), flush=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
