"""onnxruntime against PyTorch on the CPU, for every shipped SR model, interleaved in one process.

Each shipped model (zoo cards with weights: rcan/rdn/rnan/san-compact at x2, x3, x4) is exported with
``restore.interop.onnx_export`` and run whole (no tiles) on one random RGB input per size, both ways through
the same [0, 1] -> [0, 1] contract: PyTorch (``UnitRangeNetwork`` under ``torch.inference_mode``, the engine's
fast paths) and onnxruntime's CPU provider with as many intra-op threads as torch. After one warm-up of each,
the rounds alternate which backend goes first; the ratio torch / onnxruntime of the medians is computed in the
same run (above 1: onnxruntime is faster). Outputs are compared too (grey levels after rounding).

LR sizes per arch (a side of ``size``), chosen so a run fits this 2-core, 23 GB machine:

* rcan, rdn: 256 and 1024;
* san: 256 and 384: in the graph each quadrant's attention matrix is formed whole ((N/4) x (N/16) floats),
  1.4 GB at 384, 4.3 GB at 512 (onnxruntime keeps two);
* rnan: 64 and 128: the exported non-local blocks form their (N x N) matrix whole (1 GB at 128, 17 GB at 256),
  and RNAN costs 1.5 TFLOP at 256 even on PyTorch's fused path.

    .venv/bin/python benchmarks/bench_onnx.py [--rounds 3] [--threads 2] [--scales 2,3,4] [--models rcan-compact]
    .venv/bin/python benchmarks/bench_onnx.py --quick        # smoke run: x2 only, LR 24 and 40, 2 rounds

Writes benchmarks/results/onnx_vs_torch.json (``--quick`` writes only where ``--out`` says).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from restore.archs import spec
from restore.interop.onnx_export import INPUT_NAME, OUTPUT_NAME, UnitRangeNetwork, onnx_bytes
from restore.training.hardware import describe_hardware
from restore.zoo import list_models, load_model

RESULTS = Path(__file__).parent / "results" / "onnx_vs_torch.json"
SIZES = {"rcan": (256, 1024), "rdn": (256, 1024), "san": (256, 384), "rnan": (64, 128)}
QUICK_SIZES = (24, 40)


def timed(function) -> float:
    began = time.perf_counter()
    function()
    return time.perf_counter() - began


def compare(entry, sizes: tuple[int, ...], rounds: int, threads: int) -> dict:
    network = load_model(entry.name, entry.scale)
    wrapped = UnitRangeNetwork(network).eval()
    began = time.perf_counter()
    graph = onnx_bytes(network, entry.scale)
    export_seconds = time.perf_counter() - began
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    runs = []
    for size in sizes:
        lr = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(size))
        array = lr.numpy()

        def run_torch():
            with torch.inference_mode():
                return wrapped(lr).numpy()

        def run_onnx():
            return session.run([OUTPUT_NAME], {INPUT_NAME: array})[0]

        # Warm-up, which also gives the outputs to compare.
        levels = np.abs(np.rint(run_torch() * 255).astype(np.int16) - np.rint(run_onnx() * 255).astype(np.int16))
        seconds: dict[str, list[float]] = {"torch": [], "onnxruntime": []}
        for index in range(rounds):
            order = ("torch", "onnxruntime") if index % 2 == 0 else ("onnxruntime", "torch")
            for backend in order:
                seconds[backend].append(timed(run_torch if backend == "torch" else run_onnx))
        medians = {backend: statistics.median(values) for backend, values in seconds.items()}
        row = {
            "lr_size": size,
            "torch_seconds": [round(s, 4) for s in seconds["torch"]],
            "onnxruntime_seconds": [round(s, 4) for s in seconds["onnxruntime"]],
            "torch_median": round(medians["torch"], 4),
            "onnxruntime_median": round(medians["onnxruntime"], 4),
            "speedup_onnxruntime": round(medians["torch"] / medians["onnxruntime"], 3),
            "max_grey_level_difference": int(levels.max()),
        }
        runs.append(row)
        print(f"{entry.name:<14} x{entry.scale} LR {size:>4}: torch {row['torch_median']:8.3f} s, onnxruntime "
              f"{row['onnxruntime_median']:8.3f} s, torch/onnxruntime {row['speedup_onnxruntime']:.2f}, "
              f"max diff {row['max_grey_level_difference']} grey levels", flush=True)
    return {"model": entry.name, "arch": entry.arch, "scale": entry.scale, "config": entry.config,
            "export_seconds": round(export_seconds, 1), "sizes": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per backend, interleaved (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch and onnxruntime intra-op threads (default 2)")
    parser.add_argument("--scales", default="2,3,4", help="comma-separated scales (default 2,3,4)")
    parser.add_argument("--models", help="comma-separated zoo names (default: every shipped SR model)")
    parser.add_argument("--sizes", help="comma-separated LR sides for every model (default: per arch, see above)")
    parser.add_argument("--quick", action="store_true", help="smoke run: x2, LR 24 and 40, 2 rounds, no file unless --out")
    parser.add_argument("--out", type=Path, help=f"result file (default {RESULTS}, none with --quick)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    scales = {2} if args.quick else {int(s) for s in args.scales.split(",")}
    rounds = 2 if args.quick else args.rounds
    names = set(args.models.split(",")) if args.models else None
    entries = [
        e for e in list_models()
        if e.card is not None and e.weights is not None and e.weights.exists() and spec(e.arch).learned
        and e.scale in scales and (names is None or e.name in names)
    ]
    results = []
    for entry in entries:
        if args.sizes:
            sizes = tuple(int(s) for s in args.sizes.split(","))
        else:
            sizes = QUICK_SIZES if args.quick else SIZES[entry.arch]
        results.append(compare(entry, sizes, rounds, args.threads))
    result = {
        "machine": f"{platform.machine()}, {describe_hardware()}",
        "threads": args.threads,
        "rounds": rounds,
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "input": "one random RGB image per size, float32 in [0, 1], whole (no tiles), batch 1",
        "ratio": "speedup_onnxruntime = median torch seconds / median onnxruntime seconds (> 1: onnxruntime faster)",
        "models": results,
    }
    out = args.out or (None if args.quick else RESULTS)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
