"""How long a style transfer will take, from per-megapixel costs measured once (``restore/data/style_cost.json``,
written by ``benchmarks/bench_style_cost.py``, which records its command and machine).

The costs are CPU-seconds on one thread, per part of the work:

- sanet: the encoder per megapixel it reads (the content with its reflected margin, and every style, each
  band with its halos), the decoder per megapixel it writes (the content with the decoder's margin, each band
  with its halos), and the style attention per content megapixel x style megapixel (every content position
  attends to every style position);
- optimize: one loss evaluation (VGG-16 forward and backward) per megapixel of the scale it runs at, times
  the evaluations L-BFGS makes per iteration, summed over ``optimize_plan``'s scales.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from restore.archs.sanet import DECODER_HALO, ENCODER_HALO, IMAGE_MULTIPLE, band_spans

__all__ = ["COST_FILE", "StyleCost", "optimize_seconds", "sanet_seconds", "style_cost"]

COST_FILE = Path(__file__).resolve().parent.parent / "data" / "style_cost.json"
_MEGA = 1e6


@dataclass(frozen=True)
class StyleCost:
    """CPU-seconds on one thread: per encoded, decoded and attended megapixel (sanet), per evaluated
    megapixel (optimize), and the evaluations per L-BFGS iteration measured with them."""

    encoder_per_megapixel: float
    decoder_per_megapixel: float
    attention_per_megapixel_squared: float
    optimize_evaluation_per_megapixel: float
    optimize_evaluations_per_iteration: float


@functools.lru_cache(maxsize=1)
def style_cost(path: Path = COST_FILE) -> StyleCost:
    """The measured costs (read once)."""
    record = json.loads(path.read_text())
    sanet, optimize = record["sanet"], record["optimize"]
    return StyleCost(
        encoder_per_megapixel=float(sanet["encoder_cpu_seconds_per_megapixel"]),
        decoder_per_megapixel=float(sanet["decoder_cpu_seconds_per_megapixel"]),
        attention_per_megapixel_squared=float(sanet["attention_cpu_seconds_per_megapixel_squared"]),
        optimize_evaluation_per_megapixel=float(optimize["evaluation_cpu_seconds_per_megapixel"]),
        optimize_evaluations_per_iteration=float(optimize["evaluations_per_iteration"]),
    )


def _read_rows(rows: int, band: int, halo: int) -> int:
    """Rows a banded pass reads for ``rows`` rows: each band's own and its halos."""
    return sum(bottom - top for _, _, top, bottom in band_spans(rows, band, halo))


def sanet_seconds(content: tuple[int, int], styles: Sequence[tuple[int, int]], alpha: float = 1.0,
                  size: int | None = None, band_rows: int | None = None, cost: StyleCost | None = None,
                  content_residual: bool = True) -> float:
    """CPU-seconds (one thread) of ``stylize`` for a content and styles of these (height, width), as it
    resizes them for ``size`` and bands them by ``band_rows``; ``alpha`` below 1 adds the content's own
    transform and, with ``content_residual``, a second decode (alpha 0 then costs nothing: it is the content)."""
    from restore.style.stylize import BAND_ROWS, decoded_rows, long_side_shape, padded_rows, style_long_side

    cost = cost or style_cost()
    band_rows = band_rows or BAND_ROWS
    height, width = long_side_shape(*content, size) if size is not None else content
    padded = padded_rows(height) * padded_rows(width) / _MEGA
    encoded = _read_rows(padded_rows(height), band_rows, ENCODER_HALO) * padded_rows(width) / _MEGA
    style_sizes = [long_side_shape(*style, style_long_side(*style, size)) for style in styles]
    for rows, columns in style_sizes:
        encoded += _read_rows(rows, band_rows, ENCODER_HALO) * columns / _MEGA
    decoder_band = band_rows // IMAGE_MULTIPLE
    decoded = (_read_rows(decoded_rows(height), decoder_band, DECODER_HALO) * decoded_rows(width)
               * IMAGE_MULTIPLE**2 / _MEGA)
    if alpha == 0 and content_residual:
        return 0.0
    attended = [padded * rows * columns / _MEGA for rows, columns in style_sizes] if alpha > 0 else []
    if alpha < 1:
        attended.append(padded * padded)
        if content_residual:
            decoded *= 2
    return (cost.encoder_per_megapixel * encoded + cost.decoder_per_megapixel * decoded
            + cost.attention_per_megapixel_squared * sum(attended))


def optimize_seconds(content: tuple[int, int], size: int | None = None, iterations: Sequence[int] | None = None,
                     cost: StyleCost | None = None) -> float:
    """CPU-seconds (one thread) of ``optimize_stylize`` for a content of this (height, width)."""
    from restore.style.optimize import DEFAULT_ITERATIONS, optimize_plan

    cost = cost or style_cost()
    plan = optimize_plan(*content, size, iterations or DEFAULT_ITERATIONS)
    evaluated = sum(rows * columns / _MEGA * budget for (rows, columns), budget in plan)
    return cost.optimize_evaluation_per_megapixel * cost.optimize_evaluations_per_iteration * evaluated
