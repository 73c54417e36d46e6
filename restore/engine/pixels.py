"""Arrays of any common layout and depth to the networks' float RGB [0, 255] planes, and back.

Rules:

* Layouts: (H, W) and (H, W, 1) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB, (H, W, 4) RGBA.
* Depths: uint8 as is; uint16 as ``v / 257`` (65535 -> 255 exactly) and back as ``round(v * 257)``; float
  in [0, 1] as ``v * 255`` and back as ``v / 255``. Every output is clipped to its dtype's range.
  Nothing is quantised to 8 bits on the way: a 16-bit image keeps its 65536 levels through the float path.
* Grey goes through the colour networks as three equal channels, and comes back as the **mean** of the three
  output channels: the network sees no hue in a neutral input, so the channels are three estimates of the
  same grey, and their mean is the least-squares one (BT.601 luma would weight them 0.299/0.587/0.114 for
  no reason here).
* Alpha is split off as its own plane; see :mod:`restore.engine.alpha` for how the colour under it is treated.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["PixelFormat", "from_planes", "to_planes"]

_PEAKS = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


@dataclass(frozen=True)
class PixelFormat:
    """What an input array looked like, so the output can look the same."""

    dtype: np.dtype
    channels: int  # 0 for a 2-D (H, W) array
    height: int
    width: int

    @classmethod
    def of(cls, array: np.ndarray) -> PixelFormat:
        if not isinstance(array, np.ndarray):
            raise TypeError(f"expected a numpy array, got {type(array).__name__}")
        if array.ndim == 2:
            channels = 0
        elif array.ndim == 3 and array.shape[2] in (1, 2, 3, 4):
            channels = array.shape[2]
        else:
            raise ValueError(f"expected an (H, W) or (H, W, C) image with C in 1..4, got shape {array.shape}")
        if array.dtype not in _PEAKS and array.dtype.kind != "f":
            raise TypeError(f"expected uint8, uint16 or float pixels, got {array.dtype}")
        if array.shape[0] < 1 or array.shape[1] < 1:
            raise ValueError(f"empty image of shape {array.shape}")
        return cls(dtype=array.dtype, channels=channels, height=array.shape[0], width=array.shape[1])

    @property
    def has_alpha(self) -> bool:
        return self.channels in (2, 4)

    @property
    def is_grey(self) -> bool:
        return self.channels in (0, 1, 2)

    @property
    def deep(self) -> bool:
        """More than 8 bits per sample: float16 compute would lose levels."""
        return self.dtype != np.uint8

    @property
    def peak(self) -> float:
        """The sample value meaning full intensity: 255, 65535 or 1.0."""
        return _PEAKS.get(self.dtype, 1.0)


def to_planes(array: np.ndarray) -> tuple[Tensor, Tensor | None]:
    """Colour as float32 RGB in [0, 255] and alpha as float32 in [0, 255] (None when there is none).

    Shape: (H, W[, C]) -> (3, H, W), (1, H, W) or None.
    """
    fmt = PixelFormat.of(array)
    values = torch.from_numpy(np.ascontiguousarray(array).astype(np.float32, copy=True))
    values = values.mul_(255.0 / fmt.peak)
    if fmt.channels == 0:
        values = values[..., None]
    values = values.permute(2, 0, 1)
    colour_channels = 1 if fmt.is_grey else 3
    colour = values[:colour_channels].expand(3, -1, -1).contiguous()
    alpha = values[colour_channels:].contiguous() if fmt.has_alpha else None
    return colour, alpha


# Rows converted at a time: the float temporaries of a conversion stay small even for a 16000-pixel-wide
# output, whose float32 planes alone are gigabytes.
_CONVERSION_ROWS = 512


def _from_float255(values: Tensor, fmt: PixelFormat) -> np.ndarray:
    """Shape: (H, W, C) float [0, 255] -> (H, W, C) in ``fmt.dtype``, rounded and clipped."""
    scaled = values.mul(fmt.peak / 255.0).clamp_(0.0, fmt.peak)
    if fmt.dtype.kind == "f":
        return scaled.numpy().astype(fmt.dtype, copy=False)
    # Non-negative after the clamp, so floor(v + 0.5) rounds half away from zero as MATLAB's casts do.
    return scaled.add_(0.5).floor_().numpy().astype(fmt.dtype)


def from_planes(colour: Tensor, alpha: Tensor | None, fmt: PixelFormat) -> np.ndarray:
    """The inverse of :func:`to_planes` for planes of any size, in ``fmt``'s layout and dtype.

    Shape: (3, H', W'), (1, H', W') or None -> (H', W'[, C]).
    """
    height, width = colour.shape[-2:]
    channels = (1 if fmt.is_grey else 3) + (0 if alpha is None else 1)
    result = np.empty((height, width, channels), dtype=fmt.dtype)
    for top in range(0, height, _CONVERSION_ROWS):
        rows = slice(top, top + _CONVERSION_ROWS)
        planes = [colour[:, rows].mean(dim=0, keepdim=True) if fmt.is_grey else colour[:, rows]]
        if alpha is not None:
            planes.append(alpha[:, rows])
        result[rows] = _from_float255(torch.cat(planes, dim=0).permute(1, 2, 0), fmt)
    return result[..., 0] if fmt.channels == 0 else result
