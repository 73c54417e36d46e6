"""``restore inspect``: what a checkpoint is (arch, scale, configuration, layout), read from its tensors.

A thin shell over :func:`restore.interop.recognise.recognise`.
"""
from __future__ import annotations

import argparse
import json

HELP = "recognise a checkpoint from its tensors: arch, scale, configuration, layout, parameters, dtype, wrappers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a checkpoint (.pt/.pth weights-only pickle, or .safetensors)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (arch, scale, config, layout, params, dtype, wrappers, ...)")


def run(args: argparse.Namespace) -> int:
    from restore.archs import spec
    from restore.interop.recognise import recognise

    found = recognise(args.file)
    if args.json:
        print(json.dumps(found.to_json(), indent=2))
        return 0
    rows = [
        ("file", found.source),
        ("arch", f"{found.arch} ({spec(found.arch).title})"),
        ("scale", f"x{found.scale}"),
        ("config", ", ".join(f"{key}={value}" for key, value in found.to_json()["config"].items())),
        ("layout", found.layout + (f" (zoo model {found.name}, card {found.card})" if found.card else "")),
        ("params", f"{found.params:,}"),
        ("assumed", ", ".join(f"{key}={value}" for key, value in found.to_json()["assumed"].items())
         + " (not stored in the file; restore.load(FILE, img_range=..., rgb_mean=...) sets others)"),
        ("dtype", found.dtype),
        ("wrappers", " > ".join(found.wrappers) or "none"),
    ]
    rows = [(label, value) for label, value in rows if label != "assumed" or found.assumed]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0
