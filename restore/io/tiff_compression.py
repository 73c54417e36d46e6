"""TIFF compressions restore reads and writes, and each one's name in the two libraries that write TIFF.

8-bit TIFF goes through Pillow (which carries EXIF); 16-bit colour through tifffile, whose LZW, Deflate
and Zstd codecs come from imagecodecs (a dependency: OpenCV, GIMP and most scanners write 16-bit LZW or
Deflate, and tifffile cannot decode those without it).
"""
from __future__ import annotations

from restore.errors import DataError

__all__ = ["DEFAULT_TIFF_COMPRESSION", "TIFF_COMPRESSIONS", "pillow_compression", "tifffile_compression"]

DEFAULT_TIFF_COMPRESSION = "deflate"
# our name -> (tifffile's, Pillow's); all lossless.
_NAMES = {
    "none": (None, "raw"),
    "lzw": ("lzw", "tiff_lzw"),
    "deflate": ("adobe_deflate", "tiff_adobe_deflate"),
    "zstd": ("zstd", "zstd"),
    "packbits": ("packbits", "packbits"),
}
TIFF_COMPRESSIONS = tuple(_NAMES)


def _check(name: str | None) -> str:
    name = (name or DEFAULT_TIFF_COMPRESSION).lower()
    if name not in _NAMES:
        raise DataError(f"unknown TIFF compression {name!r}; choose {', '.join(TIFF_COMPRESSIONS)}")
    return name


def tifffile_compression(name: str | None) -> str | None:
    return _NAMES[_check(name)][0]


def pillow_compression(name: str | None) -> str:
    return _NAMES[_check(name)][1]
