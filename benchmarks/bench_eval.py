"""Evaluation speed and exactness on BSD100 x4: restore's torch pipeline against basicsr's.

Degradation: ``bicubic_degrade`` (MATLAB-exact, uint8 between passes) against basicsr's
``matlab_functions.imresize`` on the same modcropped HR images; both outputs are compared pixel
by pixel with the published LR files. Metrics: Y-PSNR + SSIM (crop 4) of the bicubic upscaled
published LR files against HR, restore's ``psnr``/``ssim`` against basicsr's
``calculate_psnr``/``calculate_ssim``. Same process, same images, same threads.

Run: ``.venv/bin/python benchmarks/bench_eval.py``; writes ``benchmarks/results/eval.json``.
"""
from __future__ import annotations

import json
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


def _timed(function, *arguments):
    start = time.perf_counter()
    result = function(*arguments)
    return result, time.perf_counter() - start


def bench_degradation(images, basicsr_imresize) -> dict:
    def ours():
        return [bicubic_degrade(_chw(hr), SCALE)[0].permute(1, 2, 0).numpy() for _, hr, _ in images]

    def theirs():
        outputs = []
        for _, hr, _ in images:
            resized = basicsr_imresize(hr.astype(np.float64), 1 / SCALE)
            outputs.append(np.clip(np.round(resized), 0, 255).astype(np.uint8))
        return outputs

    ours()  # warm-up: first-call allocations and kernel selection
    ours_lr, ours_s = _timed(ours)
    theirs_lr, theirs_s = _timed(theirs)
    total = sum(lr.size for _, _, lr in images)
    ours_match = sum(int((out == lr).sum()) for out, (_, _, lr) in zip(ours_lr, images)) / total
    theirs_match = sum(int((out == lr).sum()) for out, (_, _, lr) in zip(theirs_lr, images)) / total
    theirs_exact = sum(np.array_equal(out, lr) for out, (_, _, lr) in zip(theirs_lr, images))
    return {
        "restore_s": ours_s,
        "basicsr_s": theirs_s,
        "speedup": theirs_s / ours_s,
        "restore_pixel_match": ours_match,
        "basicsr_pixel_match": theirs_match,
        "basicsr_identical_files": theirs_exact,
    }


def bench_metrics(images, calculate_psnr, calculate_ssim) -> dict:
    pairs = [(imresize(_chw(lr), SCALE), _chw(hr)) for _, hr, lr in images]

    def ours():
        values = [(psnr(sr, hr, SCALE).item(), ssim(sr, hr, SCALE).item()) for sr, hr in pairs]
        return np.mean([v[0] for v in values]), np.mean([v[1] for v in values])

    bgr_pairs = [(sr[0].permute(1, 2, 0).numpy()[..., ::-1].copy(), hr[0].permute(1, 2, 0).numpy()[..., ::-1].copy())
                 for sr, hr in pairs]

    def theirs():
        values = [(calculate_psnr(sr, hr, SCALE, test_y_channel=True), calculate_ssim(sr, hr, SCALE, test_y_channel=True))
                  for sr, hr in bgr_pairs]
        return np.mean([v[0] for v in values]), np.mean([v[1] for v in values])

    ours()
    (ours_psnr, ours_ssim), ours_s = _timed(ours)
    (theirs_psnr, theirs_ssim), theirs_s = _timed(theirs)
    return {
        "restore_s": ours_s,
        "basicsr_s": theirs_s,
        "speedup": theirs_s / ours_s,
        "restore_bicubic_psnr_ssim": [float(ours_psnr), float(ours_ssim)],
        "basicsr_bicubic_psnr_ssim": [float(theirs_psnr), float(theirs_ssim)],
    }


def main() -> int:
    import_basicsr()
    from basicsr.metrics import calculate_psnr, calculate_ssim
    from basicsr.utils.matlab_functions import imresize as basicsr_imresize

    images = _load_bsd100()
    degradation = bench_degradation(images, basicsr_imresize)
    metrics = bench_metrics(images, calculate_psnr, calculate_ssim)
    results = {
        "dataset": "BSD100",
        "scale": SCALE,
        "images": len(images),
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "degradation": degradation,
        "metrics": metrics,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    print(f"BSD100 x{SCALE}, {len(images)} images, CPU, {results['torch_threads']} torch threads")
    print(f"{'task':<34}{'restore s':>11}{'basicsr s':>11}{'speedup':>9}")
    for label, row in (("degradation (modcrop + imresize)", degradation), ("Y-PSNR + SSIM (crop 4)", metrics)):
        print(f"{label:<34}{row['restore_s']:>11.2f}{row['basicsr_s']:>11.2f}{row['speedup']:>8.1f}x")
    print(f"pixels equal to the published LR files: restore {degradation['restore_pixel_match']:.6f}, "
          f"basicsr {degradation['basicsr_pixel_match']:.6f} ({degradation['basicsr_identical_files']} files identical)")
    print("bicubic x4 mean PSNR/SSIM: restore {:.4f}/{:.4f}, basicsr {:.4f}/{:.4f}".format(
        *metrics["restore_bicubic_psnr_ssim"], *metrics["basicsr_bicubic_psnr_ssim"]))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
