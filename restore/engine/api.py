"""``restore.upscale``: one call from an image (array, Picture or file) to its upscaled pixels."""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import numpy as np

from restore.engine.upscaler import Upscaler

__all__ = ["upscale"]


@lru_cache(maxsize=2)
def _cached_upscaler(model: str, scale: int | None, options: tuple[tuple[str, Any], ...]) -> Upscaler:
    return Upscaler(model, scale, **dict(options))


def _upscaler(model: Any, scale: int | None, options: dict[str, Any]) -> Upscaler:
    """A cached Upscaler when every option is hashable, so repeated calls do not reload the network."""
    if isinstance(model, str):
        try:
            return _cached_upscaler(model, scale, tuple(sorted(options.items())))
        except TypeError:  # an unhashable option (a progress callback closure is fine; a list is not)
            pass
    return Upscaler(model, scale, **options)


def upscale(image_or_path: Any, model: Any = "auto", scale: int | None = None, **options: Any) -> np.ndarray:
    """Upscale an image ``scale`` times with ``model`` and return the pixels.

    ``scale`` defaults to the ``weights`` checkpoint's when one is given (it is recognised from its tensors),
    else to 4.

    ``image_or_path``: a numpy array (any layout and dtype :class:`~restore.engine.Upscaler` accepts), a
    :class:`restore.io.Picture`, or a path read with :func:`restore.io.load` (8/16-bit, alpha, upright by
    EXIF). ``options`` are Upscaler's keywords (weights, tile, overlap, self_ensemble, precision, device,
    compile, outscale, progress). The result has the input's dtype and channel layout.

    Shape: (H, W[, C]) -> (s*H, s*W[, C]).
    """
    from restore.io import Picture, load

    if isinstance(image_or_path, (str, os.PathLike)):
        pixels = load(image_or_path).pixels
    elif isinstance(image_or_path, Picture):
        pixels = image_or_path.pixels
    else:
        pixels = np.asarray(image_or_path)
    return _upscaler(model, None if scale is None else int(scale), options).upscale_array(pixels)
