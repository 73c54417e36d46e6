"""TIFF compressions restore reads and writes, and each one's name in the two libraries that write TIFF.

8-bit TIFF goes through Pillow (which carries EXIF); 16-bit colour through tifffile, whose LZW, Deflate
and Zstd codecs come from imagecodecs (a dependency: OpenCV, GIMP and most scanners write 16-bit LZW or
Deflate, and tifffile cannot decode those without it).
"""
from __future__ import annotations

from restore.errors import DataError

__all__ = ["DEFAULT_TIFF_COMPRESSION", "TIFF_COMPRESSIONS", "compression_of_tag", "pillow_compression",
           "tifffile_compression"]

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
# The TIFF Compression tag (259) -> our name; 32946 is the old "Deflate" code some writers still use.
_TAGS = {1: "none", 5: "lzw", 8: "deflate", 32946: "deflate", 50000: "zstd", 32773: "packbits"}


def _check(name: str | None) -> str:
    name = (name or DEFAULT_TIFF_COMPRESSION).lower()
    if name not in _NAMES:
        raise DataError(f"unknown TIFF compression {name!r}; choose {', '.join(TIFF_COMPRESSIONS)}")
    return name


def tifffile_compression(name: str | None) -> str | None:
    return _NAMES[_check(name)][0]


def pillow_compression(name: str | None) -> str:
    return _NAMES[_check(name)][1]


def compression_of_tag(tag: object) -> str | None:
    """Our name for a file's Compression tag, so an upscaled TIFF is written as its input was; None for
    codecs restore does not write (JPEG-in-TIFF, CCITT...): those outputs get the default."""
    try:
        return _TAGS.get(int(tag))
    except (TypeError, ValueError):
        return None
