"""Views that let the eye judge an upscale: a thumbnail of the upload, and a 100 % crop of before/after.

At x4 a whole-image preview is shrunk to fit the page, which hides exactly what the model changed; the
crop shows one window of the output at its real pixels beside bicubic on the same window (the "before"
the models are scored against), chosen where the output has the most detail.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["CROP_SIDE", "THUMBNAIL_SIDE", "detail_window", "full_size_crops", "thumbnail"]

CROP_SIDE = 256  # output pixels shown at 100 %
THUMBNAIL_SIDE = 320
# LR pixels of context around the cropped window, so bicubic's 4 taps see real neighbours.
_CONTEXT = 4


def _display(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 1|2|3|4) uint8/uint16 -> (H, W, 3|4) uint8: what a browser shows."""
    from restore.io.picture import to_8bit

    pixels = to_8bit(pixels)
    if pixels.shape[2] in (1, 2):
        colour = np.repeat(pixels[..., :1], 3, axis=2)
        pixels = colour if pixels.shape[2] == 1 else np.concatenate([colour, pixels[..., 1:]], axis=2)
    return np.ascontiguousarray(pixels)


def thumbnail(path: str | os.PathLike | None, max_pixels: int | None = None) -> np.ndarray | None:
    """The uploaded image, shrunk to fit THUMBNAIL_SIDE, as 8-bit (h, w, 3|4); None without a file.

    A file restore cannot read gives None too: the Upscale button then says what is wrong with it.
    """
    from PIL import Image

    from restore.errors import RestoreError
    from restore.io import load

    if not path:
        return None
    try:
        pixels = _display(load(path, max_pixels=max_pixels).pixels)
    except RestoreError:
        return None
    height, width = pixels.shape[:2]
    factor = min(1.0, THUMBNAIL_SIDE / max(height, width))
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return pixels if factor == 1.0 else np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BOX))


def detail_window(output: np.ndarray, scale: int, side: int = CROP_SIDE) -> tuple[int, int, int]:
    """(top, left, side) of the output window with the most detail (sum of absolute luma gradients),
    aligned to ``scale`` so it maps onto whole input pixels. Shape: output (H, W, C)."""
    height, width = output.shape[:2]
    side = min(side, height, width) // scale * scale
    grey = output[..., : min(3, output.shape[2])].astype(np.float32).mean(axis=2)
    energy = np.zeros_like(grey)
    energy[:, 1:] += np.abs(np.diff(grey, axis=1))
    energy[1:, :] += np.abs(np.diff(grey, axis=0))
    summed = energy.cumsum(0).cumsum(1)
    summed = np.pad(summed, ((1, 0), (1, 0)))
    stride = max(scale, side // 4 // scale * scale)
    best = (-1.0, 0, 0)
    for top in range(0, height - side + 1, stride):
        for left in range(0, width - side + 1, stride):
            total = (summed[top + side, left + side] - summed[top, left + side]
                     - summed[top + side, left] + summed[top, left])
            best = max(best, (float(total), -top, -left))
    return -best[1], -best[2], side


def full_size_crops(source: np.ndarray, output: np.ndarray, scale: int,
                    side: int = CROP_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """Bicubic and the model's output on the same window, at 100 %.

    Shape: source (h, w, C), output (scale*h, scale*w, C) -> two (s, s, 3|4) uint8, s <= ``side``.
    """
    from restore.engine.api import upscale

    top, left, side = detail_window(output, scale, side)
    low_top, low_left, low_side = top // scale, left // scale, side // scale
    y0, x0 = max(0, low_top - _CONTEXT), max(0, low_left - _CONTEXT)
    y1 = min(source.shape[0], low_top + low_side + _CONTEXT)
    x1 = min(source.shape[1], low_left + low_side + _CONTEXT)
    bicubic = upscale(np.ascontiguousarray(source[y0:y1, x0:x1]), "bicubic", scale, device="cpu", tile=None)
    offset_y, offset_x = (low_top - y0) * scale, (low_left - x0) * scale
    before = bicubic[offset_y:offset_y + side, offset_x:offset_x + side]
    after = output[top:top + side, left:left + side]
    return _display(before), _display(after)
