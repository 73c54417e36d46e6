"""The upscaling engine: tiling fidelity on BSD100 x4, peak memory of large inputs, batched throughput.

(a) Tiled against untiled on BSD100 x4 (published LR_bicubic/X4 inputs): Y-PSNR (crop 4) against HR of the
    whole-image result and of tiled results, their difference, the tiled-vs-whole consistency PSNR, and the
    time ratio. BSD100's x4 LR images are 120x80, so an LR tile of 128 holds a whole image and does not tile;
    tiles of 64 and 48 (2x2 and 3x2 tiles) are measured as well. Models: no x4 weights are trained yet, so a
    randomly initialised but deterministic compact RCAN (seed 0, 3 groups x 4 blocks, 32 features), whose
    channel attention is the hard case for tiling, plus bicubic.
(b) Peak resident memory (ru_maxrss of a fresh subprocess) of upscaling one input with tiles: bicubic x4 on
    4000x3000 (a 16000x12000 output), compact RCAN x4 on 600x450 with 128 tiles (on 4000x3000 with ``--full``: ~10 min on
    two cores).
(c) Images per second on a folder of 32 BSD100 x4 LR files: ``upscale_batch`` against a loop of
    ``upscale_array``, both reading the files, compact RCAN, untiled.

Run: ``.venv/bin/python benchmarks/bench_engine.py`` (``--images N`` for a subset in (a), ``--full``);
writes ``benchmarks/results/engine.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from restore.archs import build_model  # noqa: E402
from restore.datasets import get_dataset  # noqa: E402
from restore.engine import Upscaler, tiled_forward  # noqa: E402
from restore.engine.tiling import DEFAULT_OVERLAP  # noqa: E402
from restore.io.image import read_image  # noqa: E402
from restore.metrics.psnr_ssim import psnr  # noqa: E402

SCALE = 4
RESULTS = Path(__file__).resolve().parent / "results" / "engine.json"
COMPACT_RCAN = {"n_resgroups": 3, "n_resblocks": 4, "n_feats": 32}
TILES = (128, 64, 48)


def compact_rcan() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("rcan", SCALE, **COMPACT_RCAN).eval()


def _chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(2, 0, 1)[None].float()


def _timed_forward(model, lr: torch.Tensor, tile: int | None, overlap: int) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    result = tiled_forward(model, lr, scale=SCALE, tile=tile, overlap=overlap)
    return result.clamp(0, 255).round(), time.perf_counter() - start


def tiling_fidelity(count: int | None, overlap: int) -> dict:
    dataset = get_dataset("B100")
    hr_paths = dataset.hr_paths()[:count] if count else dataset.hr_paths()
    models = {"rcan-compact-random": compact_rcan(), "bicubic": build_model("bicubic", SCALE)}
    report: dict = {"images": len(hr_paths), "overlap": overlap, "tiles": list(TILES), "models": {}}
    for name, model in models.items():
        whole_psnr, whole_seconds = [], 0.0
        tiled = {tile: {"psnr": [], "consistency": [], "seconds": 0.0} for tile in TILES}
        for hr_path in hr_paths:
            hr = _chw(read_image(hr_path))
            lr = _chw(read_image(dataset.lr_path(hr_path.stem, SCALE)))
            hr = hr[..., : lr.shape[-2] * SCALE, : lr.shape[-1] * SCALE]
            whole, seconds = _timed_forward(model, lr, None, overlap)
            whole_seconds += seconds
            whole_psnr.append(float(psnr(whole, hr, crop_border=SCALE)))
            for tile in TILES:
                result, seconds = _timed_forward(model, lr, tile, overlap)
                tiled[tile]["seconds"] += seconds
                tiled[tile]["psnr"].append(float(psnr(result, hr, crop_border=SCALE)))
                tiled[tile]["consistency"].append(float(psnr(result, whole, crop_border=0, y_channel=False)))
        whole_mean = float(np.mean(whole_psnr))
        rows = {}
        for tile, figures in tiled.items():
            tiled_mean = float(np.mean(figures["psnr"]))
            consistency = np.array(figures["consistency"])
            rows[str(tile)] = {
                "psnr_y": round(tiled_mean, 4),
                "psnr_drop_db": round(whole_mean - tiled_mean, 4),
                "max_image_drop_db": round(float(np.max(np.array(whole_psnr) - np.array(figures["psnr"]))), 4),
                "consistency_psnr_db_min": round(float(consistency.min()), 2) if np.isfinite(consistency).all()
                else ("inf" if np.isinf(consistency).all() else round(float(consistency[np.isfinite(consistency)].min()), 2)),
                "consistency_psnr_db_mean": round(float(consistency[np.isfinite(consistency)].mean()), 2)
                if np.isfinite(consistency).any() else "inf",
                "identical_images": int(np.isinf(consistency).sum()),
                "time_ratio": round(figures["seconds"] / whole_seconds, 3),
            }
        report["models"][name] = {"whole_psnr_y": round(whole_mean, 4), "whole_seconds": round(whole_seconds, 2),
                                  "tiled": rows}
        print(f"(a) {name}: whole {whole_mean:.4f} dB; " + "; ".join(
            f"tile {tile}: drop {row['psnr_drop_db']:+.4f} dB, consistency >= {row['consistency_psnr_db_min']} dB, "
            f"time x{row['time_ratio']}" for tile, row in rows.items()), flush=True)
    return report


def memory_probe(model: str, height: int, width: int, tile: str) -> None:
    """Child process body: upscale one random image and print peak RSS as JSON."""
    network = compact_rcan() if model == "rcan-compact-random" else "bicubic"
    upscaler = Upscaler(network, SCALE, tile=None if tile == "none" else ("auto" if tile == "auto" else int(tile)),
                        device="cpu")
    image = (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = upscaler.upscale_array(image)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    chosen = upscaler.tile_for(height, width) if tile == "auto" else tile
    print(json.dumps({
        "model": model, "input": [height, width], "output": list(result.shape), "tile": chosen,
        "peak_rss_mib": round(peak_kib / 1024, 1), "rss_before_mib": round(baseline_kib / 1024, 1),
        "float32_output_mib": round(result.size * 4 / 2**20, 1), "seconds": round(seconds, 1),
    }))


def peak_memory(full: bool) -> list[dict]:
    cases = [("bicubic", 4000, 3000, "auto"), ("rcan-compact-random", 600, 450, "128")]
    if full:
        cases.append(("rcan-compact-random", 4000, 3000, "auto"))
    rows = []
    for model, height, width, tile in cases:
        completed = subprocess.run(
            [sys.executable, __file__, "--memory-probe", model, str(height), str(width), tile],
            capture_output=True, text=True, check=True,
        )
        row = json.loads(completed.stdout.strip().splitlines()[-1])
        print(f"(b) {row}", flush=True)
        rows.append(row)
    return rows


def batched_throughput(count: int = 32, rounds: int = 1) -> dict:
    dataset = get_dataset("B100")
    paths = [dataset.lr_path(hr.stem, SCALE) for hr in dataset.hr_paths()[:count]]
    upscaler = Upscaler(compact_rcan(), SCALE, tile=None, device="cpu")
    upscaler.upscale_array(read_image(paths[0]))  # warm-up: weights copied to the device format, oneDNN primed
    timings = {"loop": [], "batch": []}
    for _ in range(rounds):  # interleaved, so background load hits both alike
        start = time.perf_counter()
        looped = [upscaler.upscale_array(read_image(path)) for path in paths]
        timings["loop"].append(time.perf_counter() - start)
        start = time.perf_counter()
        batched = upscaler.upscale_batch([read_image(path) for path in paths])
        timings["batch"].append(time.perf_counter() - start)
    largest_difference = max(int(np.abs(a.astype(int) - b).max()) for a, b in zip(looped, batched))
    loop_rate, batch_rate = count / min(timings["loop"]), count / min(timings["batch"])
    row = {"images": count, "sizes": sorted({tuple(read_image(p).shape[:2]) for p in paths}),
           "loop_images_per_s": round(loop_rate, 3), "batch_images_per_s": round(batch_rate, 3),
           "speedup": round(batch_rate / loop_rate, 3), "max_pixel_difference": largest_difference}
    print(f"(c) {row}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=None, help="BSD100 images in (a) (default: all 100)")
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP)
    parser.add_argument("--full", action="store_true", help="also compact RCAN on 4000x3000 in (b)")
    parser.add_argument("--memory-probe", nargs=4, metavar=("MODEL", "H", "W", "TILE"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.memory_probe:
        model, height, width, tile = options.memory_probe
        memory_probe(model, int(height), int(width), tile)
        return
    started = time.perf_counter()
    report = {
        "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform(),
                    "torch": torch.__version__, "device": "cpu"},
        "tiling": tiling_fidelity(options.images, options.overlap),
        "peak_memory": peak_memory(options.full),
        "batching": batched_throughput(),
    }
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS} in {report['total_seconds']} s")


if __name__ == "__main__":
    main()
