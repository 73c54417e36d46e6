"""``restore degrade``: make the papers' bicubic LR images from a folder of HR images.

Writes ``OUT/X<s>/<stem>x<s>.png`` for every scale, the layout of the benchmark sets'
``LR_bicubic`` folders, with MATLAB-exact ``imresize(modcrop(HR, s), 1/s, 'bicubic')``. A file that
cannot be read or degraded is reported and skipped; the others are written, and the exit status is 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from restore.errors import DataError
from restore.io.image import read_image, write_image
from restore.metrics.imresize import bicubic_degrade
from restore.metrics.score import list_images

HELP = "make MATLAB-bicubic LR images (imresize(modcrop(HR, s), 1/s)) from an HR folder"


def parse_scales(text: str) -> list[int]:
    """``"2,3,4"`` -> ``[2, 3, 4]``; DataError for anything but positive integers."""
    scales = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise DataError(f"--scale expects positive integers separated by commas, got {text!r}")
        scales.append(int(part))
    return sorted(set(scales))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("hr_dir", metavar="HR_DIR", help="folder of HR images")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (X<s>/ is made inside)")
    parser.add_argument("--scale", required=True, metavar="S[,S..]", help="downscaling factor(s), e.g. 4 or 2,3,4")
    parser.add_argument("--device", default="cpu", help="torch device for the resize (default: cpu)")


def degrade_folder(hr_dir: Path, out_dir: Path, scales: list[int], device: torch.device) -> tuple[int, list[str]]:
    """Degrade every image of ``hr_dir`` at every scale; returns (files written, one line per failed image)."""
    hr_files = list_images(hr_dir)
    if not hr_files:
        raise DataError(f"{hr_dir}: no images found")
    for scale in scales:
        (out_dir / f"X{scale}").mkdir(parents=True, exist_ok=True)
    written = 0
    failures: list[str] = []
    for hr_path in hr_files:
        try:
            hr = torch.from_numpy(read_image(hr_path)).permute(2, 0, 1).to(device)
            for scale in scales:
                if min(hr.shape[-2:]) < scale:
                    raise DataError(f"{hr_path}: {hr.shape[-1]}x{hr.shape[-2]} is smaller than the scale {scale}")
                lr = bicubic_degrade(hr, scale).permute(1, 2, 0).cpu().numpy()
                write_image(out_dir / f"X{scale}" / f"{hr_path.stem}x{scale}.png", lr)
                written += 1
        except DataError as exc:
            failures.append(str(exc).splitlines()[0])
            print(f"restore degrade: failed: {failures[-1]}", file=sys.stderr)
    return written, failures


def run(args: argparse.Namespace) -> int:
    scales = parse_scales(args.scale)
    hr_dir, out_dir = Path(args.hr_dir), Path(args.output)
    if not hr_dir.is_dir():
        raise DataError(f"{hr_dir}: no such folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder")
    try:
        device = torch.device(args.device)
    except RuntimeError as exc:
        raise DataError(f"--device {args.device!r}: {exc}") from exc
    written, failures = degrade_folder(hr_dir, out_dir, scales, device)
    scale_list = ", ".join(f"x{s}" for s in scales)
    print(f"wrote {written} LR images ({scale_list}) to {out_dir}", file=sys.stdout)
    if failures:
        print(f"restore degrade: {len(failures)} image(s) failed:\n" + "\n".join(f"  {line}" for line in failures),
              file=sys.stderr)
        return 1
    return 0
