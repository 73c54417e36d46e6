"""Seams and border bands in a stylised picture, measured: does the picture jump across a line where it
should not, more than it jumps across the lines around it?

A band along an edge, or a seam where two bands of the banded encoder/decoder meet, is a line across the
whole picture where one row (column) differs from the next. The **line jump** between rows ``y`` and
``y + 1`` is the mean absolute difference of their pixels (all channels, 0-255 levels): brush texture gives
every line some jump, a seam gives its line much more. A place under test (the first or last
``EDGE_LINES`` lines of an edge, the lines around a joint) is a seam when its largest jump exceeds
``SEAM_RATIO`` times the median jump of its neighbouring lines plus ``SEAM_TOLERANCE`` levels. The
reference is local, so a picture whose texture changes slowly across it (busier at the bottom, flat at the
top) is compared with itself nearby, not with a different part of the picture.

The measure was checked against deliberately bad versions before it was trusted (``tests/test_style_seams.py``):
the zero-padded encoder's border frame, encoder bands with too little halo, a decoder without halo.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

__all__ = ["EDGE_LINES", "NEIGHBOURS", "SEAM_RATIO", "SEAM_TOLERANCE", "SeamCheck", "line_jumps", "seam_checks"]

# The zero-padded encoder's frame reached ~30 pixels in; its sharpest lines lay within the first 16.
EDGE_LINES = 16
# Lines on each side of a joint that belong to it (a seam may land a line off the band boundary).
JOINT_LINES = 2
# How many lines beyond a place say how much the picture jumps there anyway.
NEIGHBOURS = 64
# A seam jumps more than three times the neighbours' median, plus 2 levels. Calibrated on 30 pictures (six
# contents at 200 px, five shipped paintings, the shipped model): (largest jump - 2) / median reached 2.39 at
# their 120 edges and 2.84 at the 99th percentile of 2,205 interior 16-line windows (photos' own edges pass
# 3 in 0.7% of them), while before the reflected margin 28 of the 120 edges passed 3, up to 10.4.
SEAM_RATIO = 3.0
SEAM_TOLERANCE = 2.0


@dataclass(frozen=True)
class SeamCheck:
    """One place: ``where`` ("top", "bottom", "left", "right" or "row N"), its largest line ``jump``, the
    ``neighbours``' median jump, the ``limit`` a seam exceeds (levels of 255), and whether the content itself
    has an edge there by the same rule (``content_edge``; only when the content was given)."""

    where: str
    jump: float
    neighbours: float
    limit: float
    content_edge: bool = False

    @property
    def is_seam(self) -> bool:
        # A stylised picture follows its content's edges: a line the content already jumps across is no seam.
        return self.jump > self.limit and not self.content_edge

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "is_seam": self.is_seam}


def line_jumps(image: np.ndarray, axis: int = 0) -> np.ndarray:
    """Mean absolute difference between neighbouring rows (axis 0) or columns (axis 1), over every pixel and
    channel. Shape: (H, W, C) -> (H - 1,) or (W - 1,); entry y is between lines y and y + 1."""
    pixels = image.astype(np.float64)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return np.abs(np.diff(pixels, axis=axis)).mean(axis=(1 - axis, 2))


def _check(where: str, jumps: np.ndarray, place: range, neighbours: np.ndarray) -> SeamCheck:
    reference = float(np.median(jumps[neighbours]))
    return SeamCheck(where, float(jumps[place.start:place.stop].max()), reference,
                     SEAM_RATIO * reference + SEAM_TOLERANCE)


def _checks_along(jumps: np.ndarray, names: tuple[str, str], joints: Sequence[int]) -> list[SeamCheck]:
    count = len(jumps)
    if count < EDGE_LINES + NEIGHBOURS:
        raise ValueError(f"{count + 1} lines are too few to measure seams (at least {EDGE_LINES + NEIGHBOURS + 1})")
    lines = np.arange(count)
    checks = [
        _check(names[0], jumps, range(0, EDGE_LINES), (lines >= EDGE_LINES) & (lines < EDGE_LINES + NEIGHBOURS)),
        _check(names[1], jumps, range(count - EDGE_LINES, count),
               (lines < count - EDGE_LINES) & (lines >= count - EDGE_LINES - NEIGHBOURS)),
    ]
    for joint in joints:
        # The jump into row ``joint`` is entry joint - 1.
        place = range(max(0, joint - 1 - JOINT_LINES), min(count, joint + JOINT_LINES))
        distance = np.abs(lines - (joint - 1))
        neighbours = (distance > JOINT_LINES) & (distance <= JOINT_LINES + NEIGHBOURS // 2)
        checks.append(_check(f"row {joint}", jumps, place, neighbours))
    return checks


def seam_checks(image: np.ndarray, joints: Sequence[int] = (), content: np.ndarray | None = None) -> list[SeamCheck]:
    """The four edges and the rows ``joints`` (where two horizontal bands meet) of ``image``, each checked
    against its neighbouring lines. Shape: (H, W, C) or (H, W), uint8 or float on the 0-255 scale; at least
    81 rows and columns.

    ``content``: the picture ``image`` was stylised from, same height and width. A place where the content
    itself jumps past the same rule (a shoreline that happens to lie on a band joint) is not a seam: the
    stylised picture is meant to follow it.
    """
    if content is not None and content.shape[:2] != image.shape[:2]:
        raise ValueError(f"content {content.shape[:2]} and image {image.shape[:2]} differ in size")
    joints = [j for j in joints if 0 < j < image.shape[0]]
    checks = (_checks_along(line_jumps(image, 0), ("top", "bottom"), joints)
              + _checks_along(line_jumps(image, 1), ("left", "right"), ()))
    if content is None:
        return checks
    in_content = (_checks_along(line_jumps(content, 0), ("top", "bottom"), joints)
                  + _checks_along(line_jumps(content, 1), ("left", "right"), ()))
    return [replace(check, content_edge=edge.jump > edge.limit) for check, edge in zip(checks, in_content)]
