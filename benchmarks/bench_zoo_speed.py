"""CPU time of every shipped model on a 256x256 input (the campaign's speed goal: under 2 s at x4).

Each trained zoo model with weights is loaded through the zoo (fp16 file -> float32) and run on the same
256x256 RGB input, whole (no tiles), under ``torch.inference_mode``: one warm-up, then the median of
``--repeats`` runs. Bicubic (MATLAB-exact imresize, float32) is timed as the reference in the same run.

    .venv/bin/python benchmarks/bench_zoo_speed.py [--size 256] [--repeats 3] [--threads 2] [--models NAME ...]

``--models`` times only the named models (all scales of each); the file records which were asked for.

Writes benchmarks/results/zoo_speed.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from restore.training.hardware import describe_hardware
from restore.zoo import list_models, load_model

RESULTS = Path(__file__).parent / "results" / "zoo_speed.json"


def seconds(function, repeats: int) -> float:
    function()
    runs = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", metavar="NAME",
                        help="time only these zoo models (default: every trained model with weights)")
    args = parser.parse_args()
    entries = list_models()
    trained = {entry.name for entry in entries if entry.card is not None}
    unknown = sorted(set(args.models or ()) - trained)
    if unknown:
        parser.error(f"no trained zoo model named {', '.join(unknown)}; choose from {', '.join(sorted(trained))}")
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, args.size, args.size, generator=generator)

    from restore.metrics.imresize import imresize

    rows = []
    for entry in entries:
        if entry.card is None or entry.weights is None or not entry.weights.exists():
            continue
        if args.models and entry.name not in args.models:
            continue
        model = load_model(entry.name, entry.scale)
        with torch.inference_mode():
            elapsed = seconds(lambda: model(image), args.repeats)
        rows.append({"model": entry.name, "scale": entry.scale, "seconds": round(elapsed, 3),
                     "set5_psnr": entry.metrics.get("Set5", {}).get("psnr")})
        print(f"{entry.name:<24} x{entry.scale}  {elapsed:6.3f} s", flush=True)
    bicubic = {scale: round(seconds(lambda: imresize(image, scale), args.repeats), 3) for scale in (2, 3, 4)}
    result = {
        "machine": f"{platform.machine()}, {describe_hardware()}",
        "threads": args.threads,
        "input": f"{args.size}x{args.size} RGB, float32, whole image",
        "repeats": args.repeats,
        "models_asked": args.models or "all",
        "models": rows,
        "bicubic_seconds": bicubic,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"bicubic (MATLAB-exact imresize): {bicubic}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
