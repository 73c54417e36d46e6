"""``restore train-style OPTIONS.yml``: train a SANet style model, resuming the run's checkpoint."""
from __future__ import annotations

import argparse
import sys

HELP = "Train a SANet style-transfer model from an options file (options/sanet-vgg16.yml); resumes its checkpoint."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("options", help="YAML recipe with task: style, e.g. options/sanet-vgg16.yml")
    parser.add_argument("--resume", default="auto", help="'auto' (this run's checkpoint, if any), 'none', or a path")
    parser.add_argument("--iterations", type=int, help="stop after this iteration")
    parser.add_argument("--minutes", type=float, help="stop after this much wall time (a checkpoint is written)")
    parser.add_argument("--export", metavar="MODEL.safetensors",
                        help="do not train: export the run's checkpoint (float16) and its card, "
                        "e.g. models/sanet-vgg16.safetensors")
    parser.add_argument("--data-root", help="folder holding train/ and style/ (default: ../shared/datasets)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from restore.style.train import StyleTrainer, export_run, load_style_options

    options = load_style_options(args.options)
    if args.export:
        path = export_run(options, args.export, recipe=args.options)
        print(f"wrote {path} and {path.with_suffix('.json')}")
        return 0
    trainer = StyleTrainer(
        options, Path(args.data_root) if args.data_root else None, log=lambda message: print(message, flush=True)
    )
    if args.resume == "auto":
        trainer.resume()
    elif args.resume != "none":
        trainer.resume(args.resume)
    result = trainer.train(args.iterations, args.minutes)
    print(f"done: iteration {result['iteration']}, {result['wall_seconds'] / 60:.1f} min", file=sys.stderr)
    return 0
