"""The papers' published PSNR/SSIM (``restore/data/published.json``), each row with its source.

Only numbers found in a source are stored; a (method, dataset, scale) the file lacks was not found,
and the benchmark report says so rather than guess.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from restore.errors import DataError

PUBLISHED_PATH = Path(__file__).resolve().parent.parent / "data" / "published.json"


@dataclass(frozen=True)
class PublishedScore:
    method: str
    dataset: str
    scale: int
    psnr: float
    ssim: float | None  # None where the source's printed value is unusable (see the file's notes)
    source: str  # a key of :func:`published_sources`


@functools.lru_cache(maxsize=1)
def _payload() -> dict[str, Any]:
    if not PUBLISHED_PATH.is_file():
        raise DataError(f"the published-results table {PUBLISHED_PATH} is missing from this installation")
    return json.loads(PUBLISHED_PATH.read_text(encoding="utf-8"))


def published_scores(dataset: str | None = None, scale: int | None = None) -> list[PublishedScore]:
    """Published rows, optionally only those of one canonical dataset name and/or scale, in file order."""
    rows = [
        PublishedScore(row["method"], row["dataset"], int(row["scale"]), float(row["psnr"]),
                       None if row["ssim"] is None else float(row["ssim"]), row["source"])
        for row in _payload()["rows"]
    ]
    return [row for row in rows
            if (dataset is None or row.dataset == dataset) and (scale is None or row.scale == scale)]


def published_sources() -> dict[str, dict[str, str]]:
    """Source key -> {"cite" (short), "paper", "table", "found_in"}."""
    return dict(_payload()["sources"])


def published_gaps() -> list[str]:
    """The cells looked for and not found in any source."""
    return list(_payload()["not_found"])


def published_notes() -> dict[str, str]:
    return dict(_payload()["notes"])
