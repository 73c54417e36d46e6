"""JSON that every parser reads: no ``Infinity`` or ``NaN``, which Python writes by default but RFC 8259 forbids.

A PSNR is infinite when the two images are identical; such a value is written as ``null`` and a note
in the payload says which fields were not finite and why, so a reader does not take null for "missing".
"""
from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["NOTES_KEY", "strict_dumps", "without_non_finite"]

NOTES_KEY = "notes"


def without_non_finite(value: Any, where: str = "", found: list[str] | None = None) -> Any:
    """``value`` with every NaN/±inf float replaced by None; their JSON paths are appended to ``found``."""
    if isinstance(value, float) and not math.isfinite(value):
        if found is not None:
            found.append(f"{where or '/'} ({value})")
        return None
    if isinstance(value, dict):
        return {key: without_non_finite(item, f"{where}/{key}", found) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_non_finite(item, f"{where}/{index}", found) for index, item in enumerate(value)]
    return value


def strict_dumps(payload: dict[str, Any], **options: Any) -> str:
    """``json.dumps`` of ``payload`` with non-finite numbers as null, listed under ``"notes"``."""
    found: list[str] = []
    cleaned = without_non_finite(payload, "", found)
    if found:
        note = ("null stands for a value that is not a finite number (a PSNR is infinite when the images are "
                "identical): " + ", ".join(found))
        cleaned[NOTES_KEY] = [*cleaned.get(NOTES_KEY, []), note]
    return json.dumps(cleaned, allow_nan=False, **options)
