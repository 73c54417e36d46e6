"""Point labels that never overlap each other, the points, or the axes' edges (the benchmark chart's).

A deterministic rule, no solver: labels are placed from the top of the panel down; each takes the first
free spot among four corners around its point (right-above, right-below, left-above, left-below), then
the same corners stepped further away, one text line at a time. A label moved off its point gets a thin
leader line back to it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PointLabel", "place_labels"]

_GAP_POINTS = 4.0  # between a point and its label
_STEP_POINTS = 9.0  # one line of 7-8 pt text
_STEPS = 10
_MARKER_HALF_PIXELS = 4.0  # a scatter marker's half-size at the default 36 pt² area
_CORNERS = (("left", "bottom", 1, 1), ("left", "top", 1, -1), ("right", "bottom", -1, 1), ("right", "top", -1, -1))


@dataclass(frozen=True)
class PointLabel:
    text: str
    x: float
    y: float
    style: dict = field(default_factory=dict)  # Text properties: fontsize, color...


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _inside(inner, outer) -> bool:
    return outer.x0 <= inner.x0 and inner.x1 <= outer.x1 and outer.y0 <= inner.y0 and inner.y1 <= outer.y1


def _candidates():
    for step in range(_STEPS):
        for horizontal, vertical, sign_x, sign_y in _CORNERS:
            offset = (sign_x * _GAP_POINTS, sign_y * (_GAP_POINTS + step * _STEP_POINTS))
            yield step, horizontal, vertical, offset


def place_labels(axis, labels: list[PointLabel]) -> list:
    """Annotate ``axis`` with ``labels`` (data coordinates); returns the annotations, in placement order.

    Call after the axis' limits and the figure's layout are final: positions are computed in pixels.
    """
    from matplotlib.transforms import Bbox

    figure = axis.figure
    renderer = figure.canvas.get_renderer()
    frame = axis.get_window_extent(renderer)
    to_pixels = axis.transData.transform
    points = [to_pixels((label.x, label.y)) for label in labels]
    taken = [Bbox.from_extents(px - _MARKER_HALF_PIXELS, py - _MARKER_HALF_PIXELS,
                               px + _MARKER_HALF_PIXELS, py + _MARKER_HALF_PIXELS) for px, py in points]
    order = sorted(range(len(labels)), key=lambda index: (-points[index][1], points[index][0], labels[index].text))
    annotations = []
    for index in order:
        label = labels[index]
        chosen = None
        for step, horizontal, vertical, offset in _candidates():
            probe = axis.annotate(label.text, (label.x, label.y), xytext=offset, textcoords="offset points",
                                  ha=horizontal, va=vertical, **label.style)
            extent = probe.get_window_extent(renderer)
            probe.remove()
            if chosen is None:
                chosen = (step, horizontal, vertical, offset, extent)  # fallback: the nearest spot
            if _inside(extent, frame) and not any(_overlaps(extent, other) for other in taken):
                chosen = (step, horizontal, vertical, offset, extent)
                break
        step, horizontal, vertical, offset, extent = chosen
        leader = {"arrowprops": {"arrowstyle": "-", "lw": 0.5, "color": label.style.get("color", "black"),
                                 "shrinkA": 0, "shrinkB": 3}} if step else {}
        annotations.append(axis.annotate(label.text, (label.x, label.y), xytext=offset, textcoords="offset points",
                                         ha=horizontal, va=vertical, **leader, **label.style))
        taken.append(extent)
    return annotations
