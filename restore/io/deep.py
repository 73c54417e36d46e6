"""16-bit colour codecs: what Pillow cannot do (it decodes 16-bit RGB/RGBA/LA to 8 bits).

PNG is decoded by OpenCV and encoded here (a PNG is a zlib stream of filtered rows, so a writer
needs no library and can carry the iCCP and eXIf chunks that OpenCV drops). TIFF goes through
tifffile, which handles grey+alpha, planar files and embedded ICC profiles. Both libraries come
with restore's ``full`` extra; their absence is a clear DataError, not an ImportError.
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np

from restore.errors import DataError

__all__ = ["decode_png_deep", "decode_tiff_deep", "encode_png", "encode_tiff_deep"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (grey, grey+alpha, RGB, RGBA)
_FILTER_UP = 2


def _import_cv2(purpose: str):
    try:
        import cv2
    except ImportError as exc:
        raise DataError(f"{purpose} needs opencv-python (pip install 'restore[full]')") from exc
    return cv2


def _import_tifffile(purpose: str):
    try:
        import tifffile
    except ImportError as exc:
        raise DataError(f"{purpose} needs tifffile (pip install 'restore[full]')") from exc
    return tifffile


def _to_channels(pixels: np.ndarray, channels: int, name: str) -> np.ndarray:
    """OpenCV/tifffile layouts -> (H, W, channels) in RGB(A) / L(A) order."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    elif pixels.ndim == 3 and pixels.shape[0] == channels and pixels.shape[2] != channels:
        pixels = np.moveaxis(pixels, 0, -1)  # planar TIFF
    if pixels.ndim != 3:
        raise DataError(f"{name}: unexpected decoded shape {pixels.shape}")
    if pixels.shape[2] == channels:
        return np.ascontiguousarray(pixels)
    if channels == 2 and pixels.shape[2] == 4:  # grey+alpha expanded to BGRA by OpenCV
        return np.ascontiguousarray(pixels[..., [0, 3]])
    if channels == 1 and pixels.shape[2] in (3, 4):
        return np.ascontiguousarray(pixels[..., :1])
    raise DataError(f"{name}: decoded {pixels.shape[2]} channels where the header declares {channels}")


def decode_png_deep(data: bytes, channels: int, name: str) -> np.ndarray:
    """Decode a 16-bit PNG at full depth. Shape: bytes -> (H, W, channels) uint16, RGB(A) order."""
    cv2 = _import_cv2("reading 16-bit colour PNG")
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise DataError(f"{name}: cannot read image (corrupt or truncated PNG)")
    if pixels.ndim == 3 and pixels.shape[2] >= 3:
        pixels = pixels[..., [2, 1, 0] + ([3] if pixels.shape[2] == 4 else [])]  # OpenCV is BGR(A)
    return _to_channels(pixels, channels, name).astype(np.uint16, copy=False)


def decode_tiff_deep(data: bytes, channels: int, name: str) -> np.ndarray:
    """Decode the first page of a 16-bit TIFF. Shape: bytes -> (H, W, channels) uint16."""
    tifffile = _import_tifffile("reading 16-bit colour TIFF")
    try:
        pixels = tifffile.imread(io.BytesIO(data), key=0)
    except Exception as exc:  # tifffile raises many types (ValueError, struct.error, TiffFileError...)
        raise DataError(f"{name}: cannot read image ({exc})") from exc
    if pixels.dtype != np.uint16:
        raise DataError(f"{name}: unsupported TIFF sample type {pixels.dtype} (8 or 16-bit expected)")
    return _to_channels(pixels, channels, name)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def encode_png(pixels: np.ndarray, *, icc: bytes | None, exif: bytes | None, level: int = 6) -> bytes:
    """Encode (H, W, C) uint8/uint16 pixels, C in 1..4, as a PNG with optional iCCP and eXIf chunks.

    Rows use the "Up" filter: it is vectorisable and compresses smooth photographs well.
    """
    height, width, channels = pixels.shape
    depth = 16 if pixels.dtype == np.uint16 else 8
    raw = np.ascontiguousarray(pixels.astype(">u2" if depth == 16 else np.uint8, copy=False))
    rows = raw.view(np.uint8).reshape(height, width * channels * depth // 8)
    filtered = rows.copy()
    filtered[1:] -= rows[:-1]  # uint8 arithmetic wraps modulo 256, as the filter requires
    scanlines = np.concatenate([np.full((height, 1), _FILTER_UP, np.uint8), filtered], axis=1)
    header = struct.pack(">IIBBBBB", width, height, depth, _PNG_COLOUR_TYPE[channels], 0, 0, 0)
    parts = [_PNG_SIGNATURE, _chunk(b"IHDR", header)]
    if icc:
        parts.append(_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    if exif:
        parts.append(_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00")))
    parts.append(_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), level)))
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def encode_tiff_deep(pixels: np.ndarray, *, icc: bytes | None, compression: str | None = None) -> bytes:
    """Encode (H, W, C) uint16 pixels as a TIFF (Deflate unless ``compression`` says otherwise: none, lzw,
    deflate, zstd, packbits), alpha marked unassociated."""
    from restore.io.tiff_compression import tifffile_compression

    tifffile = _import_tifffile("writing 16-bit colour TIFF")
    channels = pixels.shape[2]
    options: dict = {"photometric": "rgb" if channels >= 3 else "minisblack",
                     "compression": tifffile_compression(compression)}
    if channels in (2, 4):
        options["extrasamples"] = [2]  # unassociated alpha: colour values are not premultiplied
    if icc:
        options["iccprofile"] = icc
    stream = io.BytesIO()
    tifffile.imwrite(stream, pixels if channels > 1 else pixels[..., 0], **options)
    return stream.getvalue()
