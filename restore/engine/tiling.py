"""Tiled inference: overlapping LR tiles on the device, seamless blending on the host.

Layout. Along each axis the tiles have the same side ``tile`` and their starts are spread evenly from 0 to
``length - tile``, as few as keep every neighbouring pair overlapping by at least ``overlap`` pixels. Equal
tiles mean one compiled graph and one conv algorithm choice; even spacing means no sliver tile at the end.

Blending. A network's output is least trustworthy near a tile's border, where its receptive field sees
zero padding instead of image. Inside each overlap, the outer quarter on either side is dropped entirely
(weight 0) and the middle half is cross-faded with a raised-cosine ramp, so tile borders never reach the
result and there is no step anywhere. The fades of two neighbours sum to one and the image edges are not
faded, so the weights are separable: the normaliser is the outer product of two 1-D sums, and the host
holds no 2-D weight map (a 4000x3000 x4 output would need 0.8 GB for one).

Networks with global pooling (RCAN's and SAN's channel attention) see tile statistics instead of image
statistics, which no blending can undo; larger tiles and overlaps shrink that difference. The default
``overlap`` of 32 LR pixels keeps B100 x4 within 0.02 dB of the untiled result (benchmarks/bench_engine.py).

Out of memory. A tile that does not fit is retried with half the side, down to ``min_tile``, after which
:class:`~restore.engine.memory.EngineOutOfMemoryError` says what to try.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from restore.engine.memory import EngineOutOfMemoryError, is_out_of_memory
from restore.engine.tile_option import MIN_TILE
from restore.errors import SettingsError

__all__ = ["DEFAULT_OVERLAP", "TileLayout", "axis_starts", "axis_weights", "tiled_forward"]

DEFAULT_OVERLAP = 32

Progress = Callable[[int, int], None]


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spread starts of ``tile``-long windows covering ``range(length)``, neighbours overlapping >= ``overlap``."""
    if tile >= length:
        return [0]
    overlap = min(overlap, tile // 2)
    count = math.ceil((length - overlap) / (tile - overlap))
    count = max(count, 2)
    return [round(index * (length - tile) / (count - 1)) for index in range(count)]


def _fade_in(positions: Tensor, overlap_start: float, overlap_stop: float) -> Tensor:
    """0 over the first quarter of ``[overlap_start, overlap_stop)``, raised cosine over the middle half, then 1."""
    quarter = (overlap_stop - overlap_start) / 4
    progress = ((positions - overlap_start - quarter) / (2 * quarter)).clamp(0.0, 1.0)
    return 0.5 - 0.5 * torch.cos(math.pi * progress)


def axis_weights(starts: list[int], tile: int, length: int, scale: int) -> list[Tensor]:
    """The 1-D output-resolution blending weight of each tile along one axis (float64).

    Shape: one (scale * min(tile, length),) tensor per start.
    """
    side = min(tile, length) * scale
    weights = []
    for index, start in enumerate(starts):
        # Output pixel centres, in output coordinates.
        positions = torch.arange(side, dtype=torch.float64) + start * scale + 0.5
        weight = torch.ones(side, dtype=torch.float64)
        if index > 0:
            weight *= _fade_in(positions, start * scale, (starts[index - 1] + tile) * scale)
        if index < len(starts) - 1:
            weight *= 1.0 - _fade_in(positions, starts[index + 1] * scale, (start + tile) * scale)
        weights.append(weight)
    return weights


@dataclass(frozen=True)
class TileLayout:
    """Where the tiles of an (H, W) input go, and how their outputs are weighted."""

    row_starts: list[int]
    col_starts: list[int]
    tile_height: int
    tile_width: int
    row_weights: list[Tensor]
    col_weights: list[Tensor]

    @classmethod
    def plan(cls, height: int, width: int, tile: int, overlap: int, scale: int) -> TileLayout:
        rows = axis_starts(height, tile, overlap)
        cols = axis_starts(width, tile, overlap)
        return cls(
            row_starts=rows,
            col_starts=cols,
            tile_height=min(tile, height),
            tile_width=min(tile, width),
            row_weights=axis_weights(rows, tile, height, scale),
            col_weights=axis_weights(cols, tile, width, scale),
        )

    @property
    def count(self) -> int:
        return len(self.row_starts) * len(self.col_starts)


def _normaliser(weights: list[Tensor], starts: list[int], length: int, scale: int) -> Tensor:
    total = torch.zeros(length * scale, dtype=torch.float64)
    for weight, start in zip(weights, starts):
        total[start * scale : start * scale + weight.numel()] += weight
    return total


def _run_layout(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    layout: TileLayout,
    scale: int,
    device: torch.device,
    dtype: torch.dtype,
    memory_format: torch.memory_format,
    progress: Progress | None,
) -> Tensor:
    batch, _, height, width = x.shape
    output: Tensor | None = None
    done = 0
    single = layout.count == 1
    for row, row_weight in zip(layout.row_starts, layout.row_weights):
        for col, col_weight in zip(layout.col_starts, layout.col_weights):
            tile = x[:, :, row : row + layout.tile_height, col : col + layout.tile_width]
            tile = tile.to(device=device, dtype=dtype).contiguous(memory_format=memory_format)
            result = model(tile).to(device="cpu", dtype=torch.float32)
            expected = (batch, layout.tile_height * scale, layout.tile_width * scale)
            if (result.shape[0], *result.shape[-2:]) != expected:
                raise SettingsError(
                    f"the model maps a {tuple(tile.shape)} tile to {tuple(result.shape)}, not x{scale} as expected"
                )
            if single:
                output = result.contiguous()
            else:
                if output is None:
                    output = torch.zeros(batch, result.shape[1], height * scale, width * scale)
                weight = (row_weight[:, None] * col_weight[None, :]).to(torch.float32)
                output[:, :, row * scale : row * scale + expected[1], col * scale : col * scale + expected[2]] += (
                    result * weight
                )
            done += 1
            if progress is not None:
                progress(done, layout.count)
    assert output is not None
    if not single:
        row_total = _normaliser(layout.row_weights, layout.row_starts, height, scale)
        col_total = _normaliser(layout.col_weights, layout.col_starts, width, scale)
        # Two broadcast divisions rather than one by their outer product: no full-size temporary.
        output /= row_total.to(torch.float32)[:, None]
        output /= col_total.to(torch.float32)[None, :]
    return output


def _release_cached_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def tiled_forward(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    scale: int,
    tile: int | None,
    overlap: int = DEFAULT_OVERLAP,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    memory_format: torch.memory_format = torch.contiguous_format,
    progress: Progress | None = None,
    min_tile: int = MIN_TILE,
) -> Tensor:
    """Run ``model`` over ``x`` tile by tile and blend the upscaled tiles into one image on the host.

    ``x`` stays on the host; each tile is copied to ``device`` as ``dtype`` in ``memory_format``, and its
    output comes back as float32. ``tile`` is the LR tile side (None: the whole input in one forward);
    ``overlap`` the least LR overlap between neighbouring tiles, capped at half the tile. ``model`` is any
    callable with the network's contract, e.g. ``lambda t: self_ensemble(net, t)`` for a self-ensemble per
    tile. ``progress(done, total)`` is called after every tile.

    On out-of-memory the whole input is redone with half the tile side (a warning says so), down to
    ``min_tile``; past that, :class:`EngineOutOfMemoryError`.

    Shape: (B, C, H, W) -> (B, C_out, scale*H, scale*W), float32 on the CPU.
    """
    if x.dim() != 4:
        raise ValueError(f"tiled_forward expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    if x.device.type != "cpu":
        raise ValueError("tiled_forward expects the input on the host; only tiles travel to the device")
    if tile is not None and tile < 1:
        raise ValueError(f"tile must be a positive number of LR pixels or None, got {tile}")
    device = torch.device(device)
    height, width = x.shape[-2:]
    side = max(height, width) if tile is None else tile
    while True:
        layout = TileLayout.plan(height, width, side, max(0, overlap), scale)
        try:
            with torch.inference_mode():
                return _run_layout(model, x, layout, scale, device, dtype, memory_format, progress)
        except Exception as error:  # noqa: BLE001 - only allocation failures are handled, the rest re-raised
            if not is_out_of_memory(error):
                raise
            current = min(side, max(height, width))
            _release_cached_memory(device)
            if current <= min_tile:
                raise EngineOutOfMemoryError(
                    f"out of memory on {device} even with {current}x{current}-pixel tiles "
                    f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); free memory "
                    "on the device, use a smaller model, or run on another device (--device cpu)"
                ) from None
            side = max(min_tile, current // 2)
            warnings.warn(f"out of memory on {device} with {current}-pixel tiles; retrying with {side}", stacklevel=2)
