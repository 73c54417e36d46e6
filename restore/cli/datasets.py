"""``restore datasets``: list the registered sets under a data root, or verify them file by file."""
from __future__ import annotations

import argparse

HELP = (
    "List the benchmark, training and style sets under a data root (present or absent), or check them "
    "against the registry in the repository's datasets/ folder (exit code 1 on any problem)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="table of sets: name, role, present/absent, image count")
    listing.add_argument("--data-root", help="data root (default: $RESTORE_DATA_ROOT or ../shared/datasets)")
    check = actions.add_parser(
        "check",
        help="verify sets: counts, missing / extra files, sha256 (or sizes with --quick)",
        description="Without --dataset every registered set is checked and sets that are entirely absent are "
                    "only reported; sets named with --dataset must be present.",
    )
    check.add_argument("root", nargs="?", help="data root (default: $RESTORE_DATA_ROOT or ../shared/datasets)")
    check.add_argument("--dataset", help="comma-separated set names (aliases such as B100 allowed)")
    check.add_argument("--quick", action="store_true", help="compare counts and file sizes only, no checksums")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args.data_root)
    names = [name for name in (args.dataset or "").split(",") if name.strip()]
    return _check(args.root, names, quick=args.quick)


def _list(root: str | None) -> int:
    from restore.datasets import check_dataset, get_dataset, list_datasets

    first = get_dataset(list_datasets()[0].name, root)
    print(f"data root: {first.root}")
    header = f"{'name':<10}{'role':<11}{'status':<9}{'images':>9}  {'LR scales':<10}folder"
    print(header)
    print("-" * len(header))
    for spec in list_datasets():
        dataset = get_dataset(spec.name, root)
        report = check_dataset(spec.name, root, verify_checksums=False)
        status = "absent" if not report.present else ("present" if report.ok else "partial")
        images = f"{dataset.count_present()}/{spec.images}"
        scales = ",".join(f"x{s}" for s in spec.lr_scales) or "-"
        print(f"{spec.name:<10}{spec.role:<11}{status:<9}{images:>9}  {scales:<10}{spec.folder}")
    return 0


def _check(root: str | None, names: list[str], quick: bool) -> int:
    from restore.datasets import check_dataset, list_datasets, resolve_name

    explicit = bool(names)
    chosen = [resolve_name(name) for name in names] if explicit else [spec.name for spec in list_datasets()]
    failed = False
    for name in chosen:
        report = check_dataset(name, root, verify_checksums=not quick)
        if not report.present and not explicit:
            print(f"{name:<10} absent (not checked): {report.absent_message}")
            continue
        if report.ok:
            print(f"{name:<10} ok: {report.found_files}/{report.expected_files} files, {report.checked} match")
            continue
        failed = True
        print(f"{name:<10} PROBLEMS ({report.found_files}/{report.expected_files} files found):")
        for line in report.problems():
            print(f"  {line}")
    return 1 if failed else 0
