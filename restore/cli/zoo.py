"""``restore zoo``: list the registered models, or export a training checkpoint into the zoo."""
from __future__ import annotations

import argparse
import json

HELP = ("List the model zoo (parameters, GFLOPs on a 256x256 LR input, weights), or "
        "`restore zoo export CHECKPOINT --name NAME` to publish a trained model with a measured card.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("list", "export"), default="list",
                        help="list (default) or export")
    parser.add_argument("checkpoint", nargs="?",
                        help="export: a `restore train` checkpoint (runs/<name>/checkpoint_*.pt), or a card (or weight "
                        "file) that scripts/gpu_campaign.sh returned (<name>_x<s>.json)")
    parser.add_argument("--json", action="store_true", help="list: print a JSON list, one object per model and scale")
    parser.add_argument("--name", help="list: only this model; export: the zoo name to publish under")
    parser.add_argument("--scale", type=int, help="list: only this scale; export: check the checkpoint's scale")
    parser.add_argument("--recipe", help="export: the options file to cite (default: the one the run used)")
    parser.add_argument("--summary", default="", help="export: one-line description for the card")
    parser.add_argument("--datasets", help="export: the benchmark sets the card measures (comma-separated; "
                        "default Set5,Set14,B100,Urban100)")
    parser.add_argument("--timing-note", default="",
                        help="export: how the card's s/image was timed, when not on a quiet machine")
    parser.add_argument("--self-ensemble", action="store_true", help="export: also measure with self-ensemble x8")
    parser.add_argument("--no-bench", action="store_true", help="export: skip measuring the benchmark sets")
    parser.add_argument("--force", action="store_true",
                        help="export: replace a committed model even if Set5 is not 0.02 dB better")


def run(args: argparse.Namespace) -> int:
    if args.action == "export":
        return _export(args)
    from restore.zoo import listing

    rows = listing(args.name, args.scale)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    # The name column fits the longest name and its default mark, with two spaces before the task column.
    name_width = max([len("name")] + [len(row["name"]) + 1 for row in rows]) + 2
    header = (f"{'name':<{name_width}}{'task':<18}{'arch':<8}{'scale':>5}{'params':>12}{'GFLOPs':>9}{'Set5 dB':>9}"
              "  weights")
    print(header)
    print("-" * len(header))
    for row in rows:
        print(_table_line(row, name_width))
    print("* the default of `restore upscale` and the app at its scale: the best bundled model by Set5 PSNR")
    return 0


def _table_line(row: dict, name_width: int) -> str:
    if row.get("needs_weights") is False:  # a baseline
        weights = "(none needed)"
    else:
        weights = row["weights"] or "not bundled: pass the authors' checkpoint with --weights"
    set5 = row["metrics"].get("Set5", {}).get("psnr")
    set5_text = f"{set5:.2f}" if set5 is not None else "-"
    scale = f"x{row['scale']}" if row["scale"] is not None else "-"
    gflops = f"{row['gflops']:.1f}" if row["gflops"] is not None else "-"
    params = f"{row['params']:,}" if row["params"] is not None else "-"
    name = row["name"] + ("*" if row["default"] and row["scale"] is not None else "")
    return f"{name:<{name_width}}{row['task']:<18}{row['arch']:<8}{scale:>5}{params:>12}{gflops:>9}{set5_text:>9}  {weights}"


def _export(args: argparse.Namespace) -> int:
    from restore.errors import RestoreError
    from restore.training.export import CARD_DATASETS, export_checkpoint

    if not args.checkpoint or not args.name:
        raise RestoreError("usage: restore zoo export CHECKPOINT --name NAME [--scale S]")
    export_checkpoint(
        args.checkpoint, args.name, args.scale, recipe=args.recipe, summary=args.summary,
        benchmark=not args.no_bench, self_ensemble_too=args.self_ensemble, force=args.force,
        timing_note=args.timing_note,
        datasets=tuple(name.strip() for name in args.datasets.split(",")) if args.datasets else CARD_DATASETS,
    )
    return 0
