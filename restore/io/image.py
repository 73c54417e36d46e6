"""Image files in and out, as uint8 numpy arrays in (H, W, C) RGB order.

Reading decodes with Pillow and normalises the mode: colour images become 3-channel RGB, greyscale
stays single-channel (H, W, 1) so that no channel is invented. Every failure becomes a
:class:`~restore.errors.DataError` naming the file. Writing is atomic: a half-written PNG never
appears under the final name, even if the process dies mid-write.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from restore.errors import DataError
from restore.io.atomic import atomic_writer

__all__ = ["read_image", "write_image"]

# Pillow modes decoded to one 8-bit grey channel; alpha is dropped, as evaluation ignores it.
_GRAY_MODES = {"1", "L", "LA"}
# Modes whose 8-bit samples convert losslessly (or by Pillow's standard formulas) to RGB.
_COLOUR_MODES = {"RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"}


def _to_uint8_array(image: Image.Image, path: Path) -> np.ndarray:
    if image.mode in _GRAY_MODES:
        return np.array(image.convert("L"))[..., None]
    if image.mode in _COLOUR_MODES:
        return np.array(image.convert("RGB"))
    raise DataError(f"{path}: unsupported image mode {image.mode!r} (8-bit greyscale or colour expected)")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8: RGB as (H, W, 3), greyscale as (H, W, 1).

    Raises DataError (naming the file) when it is missing, not a file, unreadable or corrupt.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    try:
        with Image.open(path) as image:
            image.load()
            array = _to_uint8_array(image, path)
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}: cannot read image ({exc})") from exc
    return array


def write_image(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a uint8 (H, W, 3), (H, W, 1) or (H, W) array as a PNG, atomically.

    The PNG goes to a temporary file in the destination folder, then replaces ``path`` in one
    rename, so readers never see a partial file. Returns the path written.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"write_image expects uint8 pixels, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"write_image expects (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {array.shape}")
    if not path.parent.is_dir():
        raise DataError(f"{path}: folder {path.parent} does not exist")
    # atomic_writer gives the file the permissions a plain open() would (mkstemp alone leaves 0600).
    with atomic_writer(path) as stream:
        Image.fromarray(np.ascontiguousarray(array)).save(stream, format="PNG")
    return path
