"""``restore train OPTIONS.yml``: train a network from a recipe, resuming its latest checkpoint."""
from __future__ import annotations

import argparse
import sys

# Under torchrun, one rank of a DistributedDataParallel run (restore.distributed.session; docs/scaling.md).
DISTRIBUTED = True

HELP = "Train a network from an options file (recipes under options/); resumes the run's latest checkpoint."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("options", help="YAML recipe, e.g. options/rcan-compact_x2.yml")
    parser.add_argument("--resume", default="auto",
                        help="'auto' (latest checkpoint of this run, if any), 'none', or a checkpoint path")
    parser.add_argument("--iterations", type=int, help="stop after this iteration (the schedule keeps the recipe's total)")
    parser.add_argument("--data-root", help="folder holding train/ and Set5/ (default: $RESTORE_DATA_ROOT or ../shared/datasets)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override an option, e.g. --set train.lr=1e-4 (value parsed as YAML); repeatable")
    parser.add_argument("--check", action="store_true", help="validate the options and data folders, then exit")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from restore.training.options import load_options, validate
    from restore.training.recipe import parse_overrides

    options = load_options(args.options, parse_overrides(args.set))
    data_root = Path(args.data_root) if args.data_root else None
    if args.check:
        validate(options, data_root)
        print(f"{args.options}: options and data folders are valid")
        return 0

    from restore.training.trainer import Trainer

    trainer = Trainer(options, data_root=data_root, log=lambda message: print(message, flush=True))
    if args.resume == "auto":
        trainer.resume()
    elif args.resume != "none":
        trainer.resume(args.resume)
    result = trainer.train(args.iterations)
    if trainer.world.is_main:
        print(f"done: iteration {result['iteration']}, {result['hours']:.3f} h of training", file=sys.stderr)
    return 0
