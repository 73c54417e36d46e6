#!/usr/bin/env python3
"""Build the packed data a lent GPU machine trains on (cache/gpu, ignored by git; see docs/training.md).

    .venv/bin/python scripts/pack_gpu_cache.py              # from ../shared/datasets/train, 24 MiB
    .venv/bin/python scripts/pack_gpu_cache.py --budget-mib 28

Then name `cache/gpu` in the device tool's carry list and run scripts/gpu_campaign.sh there.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from restore.errors import RestoreError  # noqa: E402
from restore.paths import data_root  # noqa: E402
from restore.training.gpu_pack import DEFAULT_SOURCES, MAX_BUDGET_MIB, PACK_DIR, build_pack  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", help="folder holding train/ and Set5/ (default: ../shared/datasets)")
    parser.add_argument("--out", default=str(PACK_DIR), help="pack folder (default: cache/gpu)")
    parser.add_argument("--sources", default=",".join(DEFAULT_SOURCES), help="training folders, comma-separated")
    parser.add_argument("--budget-mib", type=float, default=24.0, help=f"size of the whole pack (at most {MAX_BUDGET_MIB})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        build_pack(data_root(args.data_root), Path(args.out), sources=tuple(s.strip() for s in args.sources.split(",")),
                   budget_mib=args.budget_mib, seed=args.seed)
    except RestoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
