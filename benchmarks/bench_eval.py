"""Evaluation speed and exactness on BSD100 x4: restore's torch pipeline against basicsr's.

Degradation: ``bicubic_degrade`` (MATLAB-exact, uint8 between passes) against basicsr's
``matlab_functions.imresize`` on the same modcropped HR images; both outputs are compared pixel
by pixel with the published LR files. Metrics: Y-PSNR + SSIM (crop 4) of the bicubic upscaled
published LR files against HR, restore's ``psnr``/``ssim`` against basicsr's
``calculate_psnr``/``calculate_ssim``. Same process, same images, torch's default thread count
(restore narrows its own ops to one intra-op thread, see ``restore.metrics.threads``).

The machine is shared, so each task runs ``--rounds`` times with the two implementations
interleaved; the fastest round of each is reported (least disturbed by other processes), next to
the process CPU time of that round and the load average before and after.

Run: ``.venv/bin/python benchmarks/bench_eval.py [--rounds 3] [--note "what else ran"]``;
writes ``benchmarks/results/eval.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from restore.interop.basicsr_compat import import_basicsr  # noqa: E402
from restore.io.image import read_image  # noqa: E402
from restore.metrics.imresize import bicubic_degrade, imresize, modcrop  # noqa: E402
from restore.metrics.psnr_ssim import psnr, ssim  # noqa: E402
from restore.paths import data_root  # noqa: E402

SCALE = 4
RESULTS = Path(__file__).resolve().parent / "results" / "eval.json"


def _load_bsd100() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, modcropped HR, published LR) as HxWx3 uint8, for the 100 BSD100 images."""
    root = data_root() / "BSD100"
    images = []
    for hr_path in sorted((root / "HR").glob("*.png")):
        hr = read_image(hr_path)
        hr = hr[: hr.shape[0] - hr.shape[0] % SCALE, : hr.shape[1] - hr.shape[1] % SCALE]
        images.append((hr_path.stem, hr, read_image(root / "LR_bicubic" / f"X{SCALE}" / f"{hr_path.stem}x{SCALE}.png")))
    return images


def _chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)


def _timed(function):
    """(result, wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _race(ours, theirs, rounds: int) -> tuple[object, object, dict]:
    """Run both ``rounds`` times, interleaved; the outputs of the last round and the timings."""
    ours()  # warm-up: first-call allocations, cached tables, kernel selection
    theirs()
    walls: dict[str, list[float]] = {"restore": [], "basicsr": []}
    cpus: dict[str, list[float]] = {"restore": [], "basicsr": []}
    for _ in range(rounds):
        for name, function in (("restore", ours), ("basicsr", theirs)):
            output, wall, cpu = _timed(function)
            walls[name].append(wall)
            cpus[name].append(cpu)
            if name == "restore":
                ours_output = output
            else:
                theirs_output = output
    fastest = {name: min(range(rounds), key=walls[name].__getitem__) for name in walls}
    timings = {
        "restore_s": walls["restore"][fastest["restore"]],
        "basicsr_s": walls["basicsr"][fastest["basicsr"]],
        "restore_cpu_s": cpus["restore"][fastest["restore"]],
        "basicsr_cpu_s": cpus["basicsr"][fastest["basicsr"]],
        "rounds_wall_s": walls,
        "rounds_cpu_s": cpus,
    }
    timings["speedup"] = timings["basicsr_s"] / timings["restore_s"]
    timings["cpu_speedup"] = timings["basicsr_cpu_s"] / timings["restore_cpu_s"]
    return ours_output, theirs_output, timings


def bench_degradation(images, basicsr_imresize, rounds: int) -> dict:
    def ours():
        return [bicubic_degrade(_chw(hr), SCALE)[0].permute(1, 2, 0).numpy() for _, hr, _ in images]

    def theirs():
        outputs = []
        for _, hr, _ in images:
            resized = basicsr_imresize(hr.astype(np.float64), 1 / SCALE)
            outputs.append(np.clip(np.round(resized), 0, 255).astype(np.uint8))
        return outputs

    ours_lr, theirs_lr, timings = _race(ours, theirs, rounds)
    total = sum(lr.size for _, _, lr in images)
    ours_match = sum(int((out == lr).sum()) for out, (_, _, lr) in zip(ours_lr, images)) / total
    theirs_match = sum(int((out == lr).sum()) for out, (_, _, lr) in zip(theirs_lr, images)) / total
    return {
        **timings,
        "restore_pixel_match": ours_match,
        "restore_identical_files": sum(np.array_equal(out, lr) for out, (_, _, lr) in zip(ours_lr, images)),
        "basicsr_pixel_match": theirs_match,
        "basicsr_identical_files": sum(np.array_equal(out, lr) for out, (_, _, lr) in zip(theirs_lr, images)),
    }


def bench_metrics(images, calculate_psnr, calculate_ssim, rounds: int) -> dict:
    pairs = [(imresize(_chw(lr), SCALE), _chw(hr)) for _, hr, lr in images]

    def ours():
        values = [(psnr(sr, hr, SCALE).item(), ssim(sr, hr, SCALE).item()) for sr, hr in pairs]
        return np.mean([v[0] for v in values]), np.mean([v[1] for v in values])

    bgr_pairs = [(sr[0].permute(1, 2, 0).numpy()[..., ::-1].copy(), hr[0].permute(1, 2, 0).numpy()[..., ::-1].copy())
                 for sr, hr in pairs]

    def theirs():
        values = [(calculate_psnr(sr, hr, SCALE, test_y_channel=True),
                   calculate_ssim(sr, hr, SCALE, test_y_channel=True)) for sr, hr in bgr_pairs]
        return np.mean([v[0] for v in values]), np.mean([v[1] for v in values])

    (ours_psnr, ours_ssim), (theirs_psnr, theirs_ssim), timings = _race(ours, theirs, rounds)
    return {
        **timings,
        "restore_bicubic_psnr_ssim": [float(ours_psnr), float(ours_ssim)],
        "basicsr_bicubic_psnr_ssim": [float(theirs_psnr), float(theirs_ssim)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds per task (fastest kept)")
    parser.add_argument("--note", default="", help="what else ran on the machine, stored with the results")
    options = parser.parse_args()

    import_basicsr()
    from basicsr.metrics import calculate_psnr, calculate_ssim
    from basicsr.utils.matlab_functions import imresize as basicsr_imresize

    load_start = os.getloadavg()
    print(f"load average at start (1, 5, 15 min): {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}"
          f" on {os.cpu_count()} CPUs")
    images = _load_bsd100()
    degradation = bench_degradation(images, basicsr_imresize, options.rounds)
    metrics = bench_metrics(images, calculate_psnr, calculate_ssim, options.rounds)
    load_end = os.getloadavg()
    results = {
        "dataset": "BSD100",
        "scale": SCALE,
        "images": len(images),
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "rounds": options.rounds,
        "load_average_start": list(load_start),
        "load_average_end": list(load_end),
        "note": options.note,
        "degradation": degradation,
        "metrics": metrics,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    print(f"BSD100 x{SCALE}, {len(images)} images, CPU, {results['torch_threads']} torch threads, "
          f"fastest of {options.rounds} interleaved rounds")
    print(f"{'task':<34}{'restore s':>11}{'basicsr s':>11}{'speedup':>9}{'CPU s restore/basicsr':>24}{'CPU ratio':>11}")
    for label, row in (("degradation (modcrop + imresize)", degradation), ("Y-PSNR + SSIM (crop 4)", metrics)):
        print(f"{label:<34}{row['restore_s']:>11.2f}{row['basicsr_s']:>11.2f}{row['speedup']:>8.1f}x"
              f"{row['restore_cpu_s']:>13.2f} / {row['basicsr_cpu_s']:<8.2f}{row['cpu_speedup']:>10.1f}x")
    print(f"pixels equal to the published LR files: restore {degradation['restore_pixel_match']:.6f} "
          f"({degradation['restore_identical_files']} files identical), "
          f"basicsr {degradation['basicsr_pixel_match']:.6f} ({degradation['basicsr_identical_files']} files identical)")
    print("bicubic x4 mean PSNR/SSIM: restore {:.4f}/{:.4f}, basicsr {:.4f}/{:.4f}".format(
        *metrics["restore_bicubic_psnr_ssim"], *metrics["basicsr_bicubic_psnr_ssim"]))
    print(f"load average at end (1, 5, 15 min): {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
