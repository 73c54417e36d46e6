"""``restore bench``: score super-resolution under the papers' protocol (Y-PSNR/SSIM, crop = scale).

Modes, chosen by the arguments given:
  --sr-dir SR --hr-dir HR --scale S   score a folder of existing outputs against ground truth.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from restore.errors import DataError
from restore.metrics.score import score_folder

HELP = "score models (or a folder of outputs) under the papers' protocol (Y-PSNR/SSIM, crop = scale)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    folder = parser.add_argument_group("score a folder of outputs")
    folder.add_argument("--sr-dir", metavar="SR", help="folder of super-resolved images")
    folder.add_argument("--hr-dir", metavar="HR", help="folder of ground-truth images (modcropped to the scale)")
    parser.add_argument("--scale", type=int, metavar="S", help="upscaling factor (also the border crop)")
    parser.add_argument("--rgb", action="store_true", help="score on RGB instead of MATLAB luma (Y)")
    parser.add_argument("--json", metavar="F", help="also write the scores to this JSON file")


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON, atomically (temporary file in the same folder, then rename)."""
    if not path.parent.is_dir():
        raise DataError(f"{path}: folder {path.parent} does not exist")
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(payload, stream, indent=2)
            stream.write("\n")
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def format_table(scores: dict[str, Any], title: str) -> str:
    """The per-image rows and the mean, with the six decimals of the papers' MATLAB results files."""
    width = max([len("mean")] + [len(item["name"]) for item in scores["images"]])
    lines = [title, f"{'image':<{width}}  {'PSNR':>10}  {'SSIM':>8}"]
    lines += [f"{item['name']:<{width}}  {item['psnr']:>10.6f}  {item['ssim']:>8.6f}" for item in scores["images"]]
    lines.append(f"{'mean':<{width}}  {scores['psnr']:>10.6f}  {scores['ssim']:>8.6f}")
    return "\n".join(lines)


def run_sr_dir(args: argparse.Namespace) -> int:
    if not args.hr_dir or args.scale is None:
        raise DataError("--sr-dir needs --hr-dir and --scale")
    if args.scale < 1:
        raise DataError(f"--scale must be a positive integer, got {args.scale}")
    sr_dir, hr_dir = Path(args.sr_dir), Path(args.hr_dir)
    for folder, flag in ((sr_dir, "--sr-dir"), (hr_dir, "--hr-dir")):
        if not folder.is_dir():
            raise DataError(f"{flag} {folder}: no such folder")
    scores = score_folder(sr_dir, hr_dir, args.scale, y_channel=not args.rgb)
    channel = "RGB" if args.rgb else "Y"
    print(format_table(scores, f"{sr_dir} vs {hr_dir}, x{args.scale}, {channel} channel, crop {args.scale}"))
    if args.json:
        payload = {"sr_dir": str(sr_dir), "hr_dir": str(hr_dir), "scale": args.scale, "channel": channel, **scores}
        write_json(Path(args.json), payload)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.sr_dir:
        return run_sr_dir(args)
    raise DataError("nothing to score: give --sr-dir SR --hr-dir HR --scale S")
