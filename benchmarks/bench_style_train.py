"""CPU training throughput of SANet (VGG-16 encoder): crop size, batch size, memory format, torch.compile.

Every variant runs the real ``StyleTrainer.step`` (paper losses, Adam) on batches drawn from the decoded
image cache, on one thread (the recipes' setting: the other core trains an SR model). It reports seconds
per step, samples/s and training pixels/s (samples x crop^2: what a decoder learns from), plus:

- ``channels_last``: the network and the batch in NHWC (crop 128, batch 4);
- ``compile``: ``torch.compile`` of the loss terms (inductor, C++ codegen; compile time reported apart);
- the time to draw a batch from the uint8 cache;
- the frozen encoder's content and style passes under ``no_grad`` against the same passes under autograd.

Variants are measured in interleaved rounds (median over rounds) so that noise from a shared machine hits
them alike; compare ratios within one run.

    .venv/bin/python benchmarks/bench_style_train.py [--rounds 2] [--steps 2] [--no-compile]

Writes benchmarks/results/style_train.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from restore.paths import REPO_ROOT
from restore.style.train import StyleTrainer, load_style_options
from restore.training.hardware import describe_hardware

RESULTS = Path(__file__).parent / "results" / "style_train.json"
RECIPE = REPO_ROOT / "options" / "sanet-vgg16.yml"
# (crop, batch) pairs: the crop ladder at batch 4, and batch at crop 64 and 128.
SHAPES = [(64, 4), (64, 8), (128, 2), (128, 4), (128, 8), (192, 4), (256, 2), (256, 4)]
REFERENCE = (128, 4)


def make_trainer(crop: int, batch: int) -> StyleTrainer:
    options = load_style_options(RECIPE)
    options.name = "_bench_style_train"
    options.data.crop, options.data.batch_size = crop, batch
    options.threads = 1
    return StyleTrainer(options, log=lambda message: None)


def time_steps(trainer: StyleTrainer, steps: int, start: int, channels_last: bool = False) -> float:
    """Median seconds of one training step over ``steps`` steps (batches from iterations ``start``...)."""
    seconds = []
    for offset in range(steps):
        content, style = trainer.batch(start + offset)
        if channels_last:
            content = content.contiguous(memory_format=torch.channels_last)
            style = style.contiguous(memory_format=torch.channels_last)
        began = time.perf_counter()
        trainer.step(content, style)
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def encoder_grad_ratio(trainer: StyleTrainer, repeats: int = 3) -> dict:
    """Seconds of the content + style encoder passes under no_grad and under autograd (input needing grad)."""
    content, style = trainer.batch(0)
    network = trainer.network

    def run(grad: bool) -> float:
        began = time.perf_counter()
        if grad:
            taps = network.encode(content.requires_grad_()) + network.encode(style.requires_grad_())
            sum(t.sum() for t in taps if t is not None).backward()
        else:
            with torch.no_grad():
                network.encode(content), network.encode(style)
        return time.perf_counter() - began

    no_grad = statistics.median(run(False) for _ in range(repeats))
    with_grad = statistics.median(run(True) for _ in range(repeats))
    return {"no_grad_s": round(no_grad, 4), "autograd_s": round(with_grad, 4), "ratio": round(with_grad / no_grad, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)

    trainers = {shape: make_trainer(*shape) for shape in SHAPES}
    channels_last = make_trainer(*REFERENCE)
    channels_last.network.to(memory_format=torch.channels_last)
    variants: dict[str, tuple[StyleTrainer, bool]] = {
        f"crop{crop}-b{batch}": (trainer, False) for (crop, batch), trainer in trainers.items()
    }
    variants["crop128-b4-channels_last"] = (channels_last, True)
    compile_seconds = None
    if not args.no_compile:
        compiled = make_trainer(*REFERENCE)
        compiled.loss_terms = torch.compile(compiled.loss_terms)
        began = time.perf_counter()
        compiled.step(*compiled.batch(0))
        compile_seconds = round(time.perf_counter() - began, 1)
        variants["crop128-b4-compile"] = (compiled, False)

    for trainer, channels in variants.values():  # one warm-up step each
        time_steps(trainer, 1, 0, channels)
    timings: dict[str, list[float]] = {name: [] for name in variants}
    for round_index in range(args.rounds):
        for name, (trainer, channels) in variants.items():
            timings[name].append(time_steps(trainer, args.steps, 1 + round_index * args.steps, channels))
            print(f"round {round_index} {name}: {timings[name][-1]:.2f} s/step", flush=True)

    reference = statistics.median(timings[f"crop{REFERENCE[0]}-b{REFERENCE[1]}"])
    rows = {}
    for name, (trainer, _) in variants.items():
        seconds = statistics.median(timings[name])
        crop, batch = trainer.options.data.crop, trainer.options.data.batch_size
        rows[name] = {
            "crop": crop, "batch": batch, "seconds_per_step": round(seconds, 3),
            "samples_per_s": round(batch / seconds, 3),
            "kilopixels_per_s": round(batch * crop * crop / seconds / 1000, 1),
            "step_vs_crop128_b4": round(seconds / reference, 3),
        }
    draw_began = time.perf_counter()
    for iteration in range(20):
        trainers[REFERENCE].batch(iteration)
    draw_ms = (time.perf_counter() - draw_began) / 20 * 1000
    result = {
        "machine": f"{platform.machine()}, {describe_hardware()}",
        "threads": 1,
        "rounds": args.rounds, "steps_per_round": args.steps,
        "variants": rows,
        "compile_seconds": compile_seconds,
        "batch_draw_ms_crop128_b4": round(draw_ms, 2),
        "encoder_passes_crop128_b4": encoder_grad_ratio(trainers[REFERENCE]),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'variant':<28}{'s/step':>8}{'samples/s':>11}{'kpx/s':>8}{'ratio':>7}")
    for name, row in rows.items():
        print(f"{name:<28}{row['seconds_per_step']:>8.2f}{row['samples_per_s']:>11.2f}"
              f"{row['kilopixels_per_s']:>8.1f}{row['step_vs_crop128_b4']:>7.2f}")
    print(json.dumps({k: v for k, v in result.items() if k != "variants"}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
