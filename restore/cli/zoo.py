"""``restore zoo``: list the registered models (name, arch, scale, parameters, GFLOPs, weights, card)."""
from __future__ import annotations

import argparse
import json

HELP = "List the model zoo: every model and scale with parameters, GFLOPs (256x256 LR input) and weights."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per model and scale")
    parser.add_argument("--name", help="only this model name")
    parser.add_argument("--scale", type=int, help="only this scale")


def run(args: argparse.Namespace) -> int:
    from restore.zoo import describe, list_models

    entries = [
        e for e in list_models() if (args.name is None or e.name == args.name) and (args.scale in (None, e.scale))
    ]
    rows = [describe(e) for e in entries]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'name':<16}{'arch':<9}{'scale':>5}{'params':>13}{'GFLOPs':>10}  weights"
    print(header)
    print("-" * len(header))
    for row in rows:
        if row["arch"] == "bicubic":
            weights = "(none needed)"
        else:
            weights = row["weights"] or "not bundled: pass the authors' checkpoint with --weights"
        print(f"{row['name']:<16}{row['arch']:<9}{'x' + str(row['scale']):>5}{row['params']:>13,}"
              f"{row['gflops']:>10.1f}  {weights}")
    return 0
