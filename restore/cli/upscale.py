"""``restore upscale``: upscale files, folders and globs into an output folder.

A thin shell over :func:`restore.engine.batch.upscale_paths` and :class:`restore.engine.Upscaler`.
Exit status 0 when every item was upscaled or skipped, 1 when any failed (under torchrun: on any rank; every
rank exits with it, and rank 0 alone prints the summary). ``--demo`` upscales the
CC0 sample photos that ship with scikit-image, with the best model whose weights ship.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from restore.engine.tile_option import parse_tile
from restore.errors import DataError, SettingsError
from restore.io.picture import DEFAULT_MAX_PIXELS

# Runs as one rank of a torchrun launch (restore.distributed.session); ranks wait for the slowest at the end.
DISTRIBUTED = True
DISTRIBUTED_TIMEOUT_HOURS = 24

HELP = "upscale images (files, folders, globs) with a zoo model; --demo tries it on sample photos"

# scikit-image's bundled CC0 samples: colour photos and one greyscale, all present offline.
DEMO_IMAGES = ("astronaut.png", "coffee.png", "chelsea.png", "camera.png")


def _tile(text: str) -> str | int | None:
    try:
        return parse_tile(text)
    except SettingsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders (recursive) or glob patterns")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder (structure is kept)")
    parser.add_argument("--demo", action="store_true", help="upscale scikit-image's sample photos into OUTDIR")
    model = parser.add_argument_group("model")
    model.add_argument("--model", help="zoo model name, or 'auto' for the best shipped one (default without --weights)")
    model.add_argument("--scale", type=int, help="model upscaling factor (default: the --weights file's, else 4)")
    model.add_argument("--weights", metavar="PATH",
                       help="a checkpoint (RCAN/RDN/RNAN/SAN, official, BasicSR or zoo layout, any configuration); "
                       "alone it decides the network, see `restore inspect`")
    model.add_argument("--tile", type=_tile, default="auto", metavar="N|auto", help="tile size in input pixels (0: none)")
    model.add_argument("--overlap", type=int, metavar="N", help="tile overlap in input pixels (engine default if unset)")
    model.add_argument("--self-ensemble", action="store_true", help="average the 8 flips/rotations (x8 slower, +PSNR)")
    model.add_argument("--precision", default="auto", help="auto, fp32, fp16 or bf16")
    model.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    model.add_argument("--compile", action="store_true", help="torch.compile the network (slow start, faster batches)")
    model.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                       help="run the network in torch (default) or in onnxruntime on the CPU (exported once, cached)")
    output = parser.add_argument_group("output")
    output.add_argument("--outscale", type=_positive_float, metavar="F", help="final size factor (resampled after the model)")
    output.add_argument("--format", choices=("png", "jpg", "webp", "tiff"), help="output format (default: the input's)")
    output.add_argument("--quality", type=int, metavar="Q", help="JPEG/WebP quality 1-100, or PNG zlib level 0-9")
    output.add_argument("--suffix", default="", metavar="X", help="added to output names before the extension")
    output.add_argument("--overwrite", action="store_true", help="redo outputs that exist (default: skip them)")
    output.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help=f"refuse inputs above N pixels, checked from the header (default: {DEFAULT_MAX_PIXELS:,})")
    output.add_argument("--workers", type=int, default=2, metavar="N", help="decode/encode threads (default: 2)")
    # --log-file, not just --log: under torchrun, torchrun's own parser reads the whole line and takes --log
    # as an ambiguous abbreviation of its --log-dir; --log stays as an alias for one-process runs.
    output.add_argument("--log-file", "--log", dest="log", metavar="FILE",
                        help="append one JSON line per image (input, output, seconds, status; rank under torchrun)")
    output.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def demo_images() -> list[Path]:
    """The sample photos of the installed scikit-image, in DEMO_IMAGES order."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise DataError("--demo uses scikit-image's sample photos: pip install scikit-image")
    data_dir = Path(spec.origin).parent / "data"
    found = [data_dir / name for name in DEMO_IMAGES if (data_dir / name).is_file()]
    if not found:
        raise DataError(f"--demo: no sample photos found in {data_dir}")
    return found


def _build_upscaler(args: argparse.Namespace, model: str, scale: int | None, device: str):
    from restore.engine import Upscaler

    options = {
        "model": model,
        "scale": scale,
        "weights": args.weights,
        "tile": args.tile,
        "self_ensemble": args.self_ensemble,
        "precision": args.precision,
        "device": device,
        "compile": args.compile,
        "outscale": args.outscale,
        "backend": args.backend,
    }
    if args.overlap is not None:
        options["overlap"] = args.overlap
    return Upscaler(**options)


def run(args: argparse.Namespace) -> int:
    from restore.distributed import world
    from restore.engine.batch import upscale_paths

    rank = world()
    inputs: list[str | Path] = list(args.inputs)
    model, scale = args.model or "auto", args.scale
    if args.demo:
        inputs += demo_images()
    if not inputs:
        raise DataError("nothing to upscale: give INPUT files/folders/globs, or --demo")
    if args.weights is None:
        scale = 4 if scale is None else scale
        if model == "auto":
            from restore.zoo import default_model

            model = default_model(scale)
    upscaler = _build_upscaler(args, model, scale, rank.device(args.device))
    model, scale = upscaler.model_name, upscaler.scale
    if not args.quiet and rank.is_main:
        if upscaler.recognised is not None:
            chosen = f" (from {args.weights}: {upscaler.recognised.describe()})"
        else:
            chosen = " (--model auto: the best bundled model at this scale)" if args.model in (None, "auto") else ""
        print(f"model: {model} x{scale}{chosen}")
    summary = upscale_paths(
        inputs,
        args.output,
        upscaler,
        format=args.format,
        quality=args.quality,
        suffix=args.suffix,
        overwrite=args.overwrite,
        log_path=args.log,
        progress=not args.quiet,
        max_pixels=args.max_pixels,
        workers=args.workers,
        world=rank,
    )
    failed = rank.broadcast(summary.failed > 0)  # rank 0's summary is the whole batch's
    if not rank.is_main:
        return 1 if failed else 0
    report = summary.report()
    print(report, file=sys.stderr if summary.failed else sys.stdout)
    if args.demo:
        print(f"demo: {model} x{scale} results are in {Path(args.output).resolve()}")
    return 1 if failed else 0
