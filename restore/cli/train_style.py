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
    parser.add_argument("--snapshot", type=int, metavar="ITERATION",
                        help="with --export: publish the run's snapshot of this iteration (snapshots/iter_NNNNNN) "
                        "instead of its checkpoint")
    parser.add_argument("--from", dest="returned", metavar="MODEL.safetensors",
                        help="with --export: publish this model that scripts/gpu_campaign.sh returned from a lent GPU "
                        "(its card beside it) instead of the run's checkpoint")
    parser.add_argument("--evaluate", nargs="+", metavar="MODEL.safetensors",
                        help="do not train: the paper's content and style losses of each model on the recipe's "
                        "held-out content/style pairs (lower is better)")
    parser.add_argument("--pairs", type=int,
                        help="held-out pairs to evaluate or export with (default: all contents or styles)")
    parser.add_argument("--report", metavar="JSON", help="with --evaluate: also write the results here")
    parser.add_argument("--palette", choices=("network", "painting"), default="network",
                        help="with --evaluate: score the decoder's own colours (network, the default, comparable with "
                        "earlier numbers) or the outputs with the painting's L*a*b* mean and spread, as restore "
                        "stylize gives them by default (painting); also what --contact-sheet draws")
    parser.add_argument("--contact-sheet", metavar="IMAGE",
                        help="with --evaluate: draw content, style and outputs at alpha 1 and 0.5 for the first "
                        "model on 6 held-out pairs")
    parser.add_argument("--with-optimize", action="store_true",
                        help="with --contact-sheet: add a column made by --method optimize (minutes per row)")
    parser.add_argument("--data-root", help="folder holding train/ and style/ (default: ../shared/datasets)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override an option, e.g. --set train.lr=1e-4 (value parsed as YAML); repeatable")


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from restore.style.train import StyleTrainer, export_run, load_style_options
    from restore.training.recipe import parse_overrides

    options = load_style_options(args.options, parse_overrides(args.set))
    if args.evaluate:
        return _evaluate(options, args)
    for flag, value in (("--from", args.returned), ("--snapshot", args.snapshot)):
        if value is not None and not args.export:
            print(f"error: {flag} names what --export publishes: give --export MODEL.safetensors too", file=sys.stderr)
            return 2
    if args.export:
        path = export_run(options, args.export, recipe=args.options,
                          data_root_path=Path(args.data_root) if args.data_root else None, pairs=args.pairs,
                          returned=args.returned, snapshot=args.snapshot)
        print(f"wrote {path} and {path.with_suffix('.json')}")
        return 0
    trainer = StyleTrainer(
        options, Path(args.data_root) if args.data_root else None, log=lambda message: print(message, flush=True)
    )
    if args.resume == "auto":
        trainer.resume()
    elif args.resume != "none":
        trainer.resume(args.resume)
    result = trainer.train(args.iterations, deadline=time.monotonic() + args.minutes * 60 if args.minutes else None)
    print(f"done: iteration {result['iteration']}, {result['hours'] * 60:.1f} min", file=sys.stderr)
    return 0


def _evaluate(options, args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from restore.paths import data_root
    from restore.style.evaluate import contact_sheet, held_out_losses, held_out_names, held_out_pairs
    from restore.style.models import load_style_model

    root = data_root(Path(args.data_root) if args.data_root else None)
    contents, styles = held_out_names(options.data.content, options.data.style, options.data.holdout_every, root)
    pairs = held_out_pairs(contents, styles, args.pairs)
    results = {}
    for model_path in args.evaluate:
        network = load_style_model(model_path)
        results[model_path] = held_out_losses(network, root, pairs, palette=args.palette)
        row = results[model_path]
        print(f"{model_path} (palette: {args.palette}): content {row['content_loss']:.4f}  style {row['style_loss']:.4f}  "
              f"(against another pair's style {row['style_loss_mismatched']:.4f})  "
              f"alpha-0 reconstruction {row['reconstruction_psnr']:.2f} dB  palette distance to the painting "
              f"{row['palette_distance']:.2f} (another pair's painting {row['palette_distance_mismatched']:.2f}, the "
              f"content's own {row['palette_distance_content']:.2f}; output closer in {row['palette_closer_pairs']} of "
              f"{len(pairs)})  ({len(pairs)} held-out pairs)", flush=True)
        if args.contact_sheet and model_path == args.evaluate[0]:
            sheet = contact_sheet(network, root, held_out_pairs(contents, styles, 6), Path(args.contact_sheet),
                                  optimize=args.with_optimize, palette=args.palette)
            print(f"wrote {sheet}")
    if args.report:
        Path(args.report).write_text(json.dumps({"pairs": pairs, "results": results}, indent=1) + "\n")
    return 0
