#!/usr/bin/env python3
"""Train a campaign plan (options/gpu_campaign*.yml) on a lent GPU, writing weights + cards into $OUT.

Called by scripts/gpu_campaign.sh; docs/training.md ("A lent GPU") has the device tool's invocation.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from restore.errors import RestoreError  # noqa: E402
from restore.training.campaign import default_out, load_plan, open_campaign  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", default="options/gpu_campaign.yml", help="campaign plan (relative to the repository)")
    parser.add_argument("--dry-run", action="store_true", help="the plan's tiny dry_run settings (CPU, minutes)")
    parser.add_argument("--out", help="where weights and cards go (default: $OUT, else a new temporary folder)")
    parser.add_argument("--work", help="checkpoints and decoded patches (default: a temporary folder)")
    parser.add_argument("--check", action="store_true", help="validate the plan and count its files, then exit")
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parent.parent
    try:
        plan_path = Path(args.plan) if Path(args.plan).is_absolute() else repo / args.plan
        plan = load_plan(plan_path, dry_run=args.dry_run)
        out = Path(args.out) if args.out else default_out()
        with tempfile.TemporaryDirectory(prefix="gpu_campaign_work_") as scratch:
            campaign = open_campaign(plan, out, Path(args.work) if args.work else Path(scratch),
                                     log=lambda line: print(line, flush=True))
            if args.check:
                print(f"{plan_path}: valid; {campaign.check()} files into {out}")
                return 0
            campaign.run()
        print(f"results in {out}", flush=True)
    except RestoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
