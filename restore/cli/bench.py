"""``restore bench``: score super-resolution under the papers' protocol (Y-PSNR/SSIM, crop = scale).

Modes, chosen by the arguments given:
  --sr-dir SR --hr-dir HR --scale S   score a folder of existing outputs against ground truth.
  --model M[,M..] --scale S[,..] --dataset D[,..]   run zoo models on the benchmark sets and report.

Exit status of the model mode: 0 when at least one requested set was scored (absent sets are named on
stderr and in the report), 2 when none was present or on any error.

Under torchrun the model mode shares each set's images between the ranks; rank 0 alone prints and writes
the JSON, CSV and report, which match a one-process run's but for the timings (docs/scaling.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from restore.errors import DataError
from restore.io.strict_json import strict_dumps
from restore.metrics.score import score_folder

# Runs as one rank of a torchrun launch (restore.distributed.session); the ranks wait for each other per set.
DISTRIBUTED = True
DISTRIBUTED_TIMEOUT_HOURS = 24

HELP = "score models (or a folder of outputs) under the papers' protocol (Y-PSNR/SSIM, crop = scale)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    folder = parser.add_argument_group("score a folder of outputs")
    folder.add_argument("--sr-dir", metavar="SR", help="folder of super-resolved images")
    folder.add_argument("--hr-dir", metavar="HR", help="folder of ground-truth images (modcropped to the scale)")
    folder.add_argument("--rgb", action="store_true", help="score on RGB instead of MATLAB luma (Y)")
    models = parser.add_argument_group("benchmark zoo models on the standard sets")
    models.add_argument("--model", metavar="M[,M..]", help="zoo models (`restore zoo` lists them), e.g. bicubic,rcan")
    models.add_argument("--dataset", metavar="D[,..]", help="Set5, Set14, B100 (= BSD100), Urban100, Manga109")
    models.add_argument("--data-root", metavar="R", help="folder holding the sets (default: restore's data root)")
    models.add_argument("--weights", metavar="W",
                        help="checkpoint for a single model; {scale} in the path is replaced by each scale")
    models.add_argument("--self-ensemble", action="store_true", help="average the 8 flips/transposes (x8 time)")
    models.add_argument("--lpips", action="store_true", help="also LPIPS (AlexNet), if its backbone is cached")
    models.add_argument("--csv", metavar="F", help="write per-image rows to this CSV file")
    models.add_argument("--report", metavar="DIR", help="write summary.md, results.json, images.csv and a chart here")
    models.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default: auto)")
    models.add_argument("--tile", type=int, metavar="N", help="LR tile side for large images (default: whole images)")
    models.add_argument("--precision", default="fp32", choices=("fp32", "auto", "fp16", "bf16"),
                        help="inference precision (default fp32, so numbers compare with the papers')")
    parser.add_argument("--scale", metavar="S[,..]", help="upscaling factor(s) (also the border crop)")
    parser.add_argument("--json", metavar="F", help="also write the scores to this JSON file")


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_scales(text: str) -> list[int]:
    try:
        scales = [int(item) for item in _split(text)]
    except ValueError:
        raise DataError(f"--scale must be positive integers separated by commas, got {text!r}") from None
    if not scales or any(scale < 1 for scale in scales):
        raise DataError(f"--scale must be positive integers separated by commas, got {text!r}")
    return scales


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented strict JSON (an infinite PSNR becomes null, with a note), atomically
    (:func:`restore.io.atomic.atomic_writer`)."""
    from restore.io.atomic import atomic_writer

    if not path.parent.is_dir():
        raise DataError(f"{path}: folder {path.parent} does not exist")
    with atomic_writer(path) as stream:
        stream.write((strict_dumps(payload, indent=2) + "\n").encode("utf-8"))


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
    scales = parse_scales(args.scale)
    if len(scales) != 1:
        raise DataError(f"--sr-dir scores one scale at a time, got --scale {args.scale}")
    args.scale = scales[0]
    sr_dir, hr_dir = Path(args.sr_dir), Path(args.hr_dir)
    for folder, flag in ((sr_dir, "--sr-dir"), (hr_dir, "--hr-dir")):
        if not folder.is_dir():
            raise DataError(f"{flag} {folder}: no such folder")
    scores = score_folder(sr_dir, hr_dir, args.scale, y_channel=not args.rgb)
    channel = "RGB" if args.rgb else "Y"
    print(format_table(scores, f"{sr_dir} vs {hr_dir}, x{args.scale}, {channel} channel, crop {args.scale}"))
    if args.json:
        # The shape of a --model run's JSON: one result row, with its images.
        row = {"sr_dir": str(sr_dir), "hr_dir": str(hr_dir), "scale": args.scale, "channel": channel, **scores}
        write_json(Path(args.json), {"results": [row]})
    return 0


def run_models(args: argparse.Namespace) -> int:
    from restore.distributed import world
    from restore.evaluation import run_benchmark
    from restore.evaluation.report import write_csv, write_json, write_report

    if not args.dataset or args.scale is None:
        raise DataError("--model needs --dataset D[,..] and --scale S[,..]")
    rank = world()
    run_result = run_benchmark(
        _split(args.model), parse_scales(args.scale), _split(args.dataset), data_root=args.data_root,
        weights=args.weights, self_ensemble=args.self_ensemble, lpips=args.lpips, device=args.device,
        tile=args.tile, precision=args.precision, progress=print if rank.is_main else None, world=rank,
    )
    if not rank.is_main:
        return 0
    for message in run_result.absent.values():
        print(f"restore bench: skipped: {message}", file=sys.stderr)
    for warning in run_result.warnings:
        print(f"restore bench: warning: {warning}", file=sys.stderr)
    if args.lpips and not run_result.lpips_computed:
        print(f"restore bench: {run_result.lpips_note}", file=sys.stderr)
    if args.json:
        write_json(run_result, Path(args.json))
    if args.csv:
        write_csv(run_result, Path(args.csv))
    if args.report:
        written = write_report(run_result, Path(args.report), command=getattr(args, "command_line", None))
        print(f"report: {written['summary']} (with {written['json'].name}, {written['csv'].name}, "
              f"{written['chart'].name})")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.sr_dir:
        from restore.distributed import world

        return run_sr_dir(args) if world().is_main else 0  # one folder's scores: rank 0 alone, under torchrun
    if args.model:
        return run_models(args)
    raise DataError("nothing to score: give --sr-dir SR --hr-dir HR --scale S, "
                    "or --model M --dataset D --scale S")
