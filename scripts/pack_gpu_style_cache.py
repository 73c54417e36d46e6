#!/usr/bin/env python3
"""Build the packed data a lent GPU machine trains a style model on (cache/gpu_style, ignored by git; see
docs/training.md, "A lent GPU", and restore/style/gpu_pack.py). Needs the VGG-16 backbone (`restore weights fetch`).

    .venv/bin/python scripts/pack_gpu_style_cache.py     # options/sanet-vgg16_colour.yml's data, <= 28 MiB; minutes

Then name `cache/gpu_style` in the device tool's carry list and run
`scripts/gpu_campaign.sh --plan options/gpu_campaign_sanet.yml` there.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from restore.errors import RestoreError  # noqa: E402
from restore.paths import REPO_ROOT, data_root  # noqa: E402
from restore.style.gpu_pack import (  # noqa: E402
    DEFAULT_BUDGET_MIB, JPEG_QUALITY, STYLE_PACK_DIR, TREE_MARGIN_MIB, build_style_pack, default_budget_mib)
from restore.style.train import load_style_options  # noqa: E402
from restore.training.campaign import MAX_TREE_BYTES, travelling_bytes  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="options/sanet-vgg16_colour.yml",
                        help="the style recipe whose data settings (folders, split, short side) the pack holds")
    parser.add_argument("--data-root", help="folder holding train/ and style/ (default: ../shared/datasets)")
    parser.add_argument("--out", default=str(STYLE_PACK_DIR), help="pack folder (default: cache/gpu_style)")
    parser.add_argument("--budget-mib", type=float,
                        help=f"size of the whole pack, encoder included (default: {DEFAULT_BUDGET_MIB:g} MiB, or what "
                             f"the tracked files leave of the {MAX_TREE_BYTES / 2**20:.0f} MiB tree that travels, "
                             f"less {TREE_MARGIN_MIB:g} MiB)")
    parser.add_argument("--quality", type=int, default=JPEG_QUALITY, help="JPEG quality of the training images")
    parser.add_argument("--seed", type=int, default=0, help="which images, when not all fit")
    args = parser.parse_args(argv)
    try:
        options = load_style_options(REPO_ROOT / args.recipe if not Path(args.recipe).is_absolute() else args.recipe)
        out = Path(args.out)
        budget_mib = args.budget_mib if args.budget_mib is not None else default_budget_mib()
        print(f"pack budget: {budget_mib:g} MiB")
        build_style_pack(data_root(args.data_root), options.data, out, budget_mib=budget_mib,
                         quality=args.quality, seed=args.seed)
        total = travelling_bytes([out])
        print(f"the tree a device call sends with {out} carried: {total / 2**20:.1f} MiB "
              f"(at most {MAX_TREE_BYTES / 2**20:.0f})")
        if total > MAX_TREE_BYTES:
            print("error: too large for the lent machine; rebuild with a smaller --budget-mib", file=sys.stderr)
            return 2
    except RestoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
