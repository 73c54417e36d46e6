"""Regenerate datasets/<name>.tsv from the shared data's MANIFEST.tsv files.

Usage: .venv/bin/python scripts/build_dataset_registry.py [DATA_ROOT]

The registries hold names, sizes and checksums only (no data), in one column layout for every set:
  path              file path inside the set's folder (HR/baby.png, LR_bicubic/X4/babyx4.png)
  width, height     pixels
  bytes, sha256     of the file itself, where known
  pixel_sha256      sha256 of the decoded RGB uint8 array (H, W, 3), for lossless re-encodings
  alternate         another accepted file name for the same image (Urban100's original PNG)
  alternate_sha256  the sha256 of that alternate file
MANIFEST rows give file checksums for PNG/JPEG sets and pixel checksums for the WebP re-encodings;
for WebP files present in DATA_ROOT the file's own size and sha256 are added so quick checks work.
"""
from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from restore.paths import data_root  # noqa: E402  (needs the path above when run as a script)

COLUMNS = ["path", "width", "height", "bytes", "sha256", "pixel_sha256", "alternate", "alternate_sha256"]


def _file_facts(path: Path) -> tuple[str, str]:
    if not path.is_file():
        return "", ""
    return str(path.stat().st_size), hashlib.sha256(path.read_bytes()).hexdigest()


def registry_rows(root: Path, folder: str) -> list[dict[str, str]]:
    rows = []
    with open(root / folder / "MANIFEST.tsv", newline="") as handle:
        for source in csv.DictReader(handle, delimiter="\t"):
            relative = source["path"].removeprefix(folder + "/")
            row = dict.fromkeys(COLUMNS, "")
            row.update(path=relative, width=source["width"], height=source["height"])
            if "pixel_sha256" in source:
                row["pixel_sha256"] = source["pixel_sha256"]
                row["bytes"], row["sha256"] = _file_facts(root / folder / relative)
            else:
                row["bytes"], row["sha256"] = source["bytes"], source["sha256"]
            if source.get("original_file"):
                row["alternate"] = str(Path(relative).parent / source["original_file"])
                row["alternate_sha256"] = source["original_sha256"]
            rows.append(row)
    return sorted(rows, key=lambda r: r["path"])


def main(argv: list[str]) -> int:
    root = data_root(argv[1] if len(argv) > 1 else None)
    index = json.loads((REPO_ROOT / "datasets" / "registry.json").read_text())
    for spec in index["datasets"]:
        if not spec.get("registry"):
            continue
        rows = registry_rows(root, spec["folder"])
        target = REPO_ROOT / "datasets" / spec["registry"]
        with open(target, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        print(f"{target.relative_to(REPO_ROOT)}: {len(rows)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
