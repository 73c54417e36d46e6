"""EXIF orientation: read the tag, apply it to pixels, and reset it to 1 in the raw EXIF bytes.

The pixels are turned upright once, when the image is loaded; the EXIF carried to outputs must
then say "upright" (1), or viewers would rotate the result a second time. The tag is patched in
place in the raw bytes so every other EXIF field, maker notes included, survives byte for byte.
"""
from __future__ import annotations

import struct

import numpy as np

__all__ = [
    "EXIF_PREFIX", "ORIENTATION_TAG", "apply_orientation", "normalise_exif", "read_orientation", "reset_orientation",
]

EXIF_PREFIX = b"Exif\x00\x00"
ORIENTATION_TAG = 0x0112
_SHORT = 3


def normalise_exif(exif: bytes) -> bytes:
    """EXIF as JPEG's APP1 payload (``Exif\\0\\0`` + TIFF header), whatever container it came from."""
    return exif if exif.startswith(EXIF_PREFIX) else EXIF_PREFIX + exif


def _orientation_entry(tiff: bytes) -> tuple[str, int] | None:
    """(byte order, offset of the orientation entry in IFD0) or None when absent or malformed."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd_offset,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd_offset + 2 > len(tiff):
        return None
    (count,) = struct.unpack_from(order + "H", tiff, ifd_offset)
    for index in range(count):
        entry = ifd_offset + 2 + 12 * index
        if entry + 12 > len(tiff):
            return None
        tag, kind = struct.unpack_from(order + "HH", tiff, entry)
        if tag == ORIENTATION_TAG and kind == _SHORT:
            return order, entry
    return None


def read_orientation(exif: bytes | None) -> int:
    """The EXIF orientation (1..8); 1 when there is no EXIF, no tag, or a value out of range."""
    if not exif:
        return 1
    tiff = normalise_exif(exif)[len(EXIF_PREFIX):]
    found = _orientation_entry(tiff)
    if found is None:
        return 1
    order, entry = found
    (value,) = struct.unpack_from(order + "H", tiff, entry + 8)
    return value if 1 <= value <= 8 else 1


def reset_orientation(exif: bytes) -> bytes:
    """Return ``exif`` (normalised) with IFD0's orientation set to 1; unchanged when it has none.

    Malformed EXIF is returned as is: it is carried, not interpreted.
    """
    exif = normalise_exif(exif)
    tiff = bytearray(exif[len(EXIF_PREFIX):])
    found = _orientation_entry(bytes(tiff))
    if found is None:
        return exif
    order, entry = found
    struct.pack_into(order + "H", tiff, entry + 8, 1)
    return EXIF_PREFIX + bytes(tiff)


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn pixels stored with EXIF ``orientation`` (1..8) upright, as viewers display them.

    Shape: (H, W, C) -> (H, W, C) for orientations 1-4, (W, H, C) for 5-8.
    """
    if orientation == 2:
        pixels = pixels[:, ::-1]
    elif orientation == 3:
        pixels = pixels[::-1, ::-1]
    elif orientation == 4:
        pixels = pixels[::-1]
    elif orientation == 5:
        pixels = pixels.transpose(1, 0, 2)
    elif orientation == 6:
        pixels = np.rot90(pixels, k=-1)
    elif orientation == 7:
        pixels = pixels.transpose(1, 0, 2)[::-1, ::-1]
    elif orientation == 8:
        pixels = np.rot90(pixels, k=1)
    return np.ascontiguousarray(pixels)
