"""Pictures on disk: full bit depth, alpha and metadata in, the same out.

:func:`load` returns a :class:`Picture`: upright pixels (EXIF orientation applied) in one of four
layouts, L, LA, RGB or RGBA, at 8 or 16 bits, with the file's EXIF (orientation reset to 1) and
ICC profile. Other layouts are normalised: bilevel -> L, palette -> RGB, or RGBA when the palette
has transparency, CMYK -> RGB through its ICC profile when it has one, a tRNS colour -> alpha.

:func:`save` writes PNG, JPEG, WebP or TIFF atomically, carrying EXIF and ICC where the format
holds them. What a format cannot hold is converted by fixed rules:

* JPEG and WebP are 8-bit: 16-bit samples become ``round(v * 255 / 65535)``.
* JPEG has no alpha: the picture is composited over white (L A -> L, RGBA -> RGB).
* WebP has no greyscale: L is stored as RGB (readers get 3 equal channels back).
* 16-bit colour TIFF carries the ICC profile but not EXIF (tifffile writes it, not Pillow).

Every failure is a :class:`~restore.errors.DataError` naming the file. Image size is checked
from the header, before any pixel is decoded, against ``max_pixels``.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from restore.errors import DataError
from restore.io.atomic import atomic_writer
from restore.io.deep import decode_png_deep, decode_tiff_deep, encode_png, encode_tiff_deep
from restore.io.tiff_compression import compression_of_tag, pillow_compression
from restore.io.suffixes import FORMATS
from restore.io.orientation import apply_orientation, normalise_exif, read_orientation, reset_orientation

__all__ = [
    "DEFAULT_MAX_PIXELS", "FORMATS", "KEEP", "Picture", "format_for_path", "load", "save", "to_8bit",
]

# Pillow's own decompression-bomb threshold: a 13k x 13k photo passes, a forged header does not.
DEFAULT_MAX_PIXELS = 178_956_970
MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
_PILLOW_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "tiff": "TIFF"}
_DEFAULT_QUALITY = {"jpeg": 95, "webp": 90, "png": 6}
# PNG IHDR colour type -> channels, for the 16-bit check Pillow cannot answer (it reports 16-bit
# grey+alpha as RGBA and decodes 16-bit colour to 8 bits).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
# IFD0 tags of a TIFF that describe the picture rather than its storage: the EXIF worth carrying.
_DESCRIPTIVE_TIFF_TAGS = {270, 271, 272, 274, 282, 283, 296, 305, 306, 315, 33432, 0x8769, 0x8825}
_ICC_TAG = 34675


class _Keep:
    """Sentinel: save() keeps the picture's own EXIF / ICC."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()


@dataclass(frozen=True)
class Picture:
    """Decoded pixels plus what must survive a round trip.

    ``pixels``: (H, W, C) uint8 or uint16 with C in 1..4; ``mode`` and ``bit_depth`` follow from
    it. ``exif`` is JPEG's APP1 payload (``Exif\\0\\0`` + TIFF), orientation already 1.
    """

    pixels: np.ndarray
    mode: str
    bit_depth: int
    exif: bytes | None = field(default=None, repr=False)
    icc: bytes | None = field(default=None, repr=False)
    source_format: str | None = None
    # A TIFF's compression (none, lzw, deflate, zstd, packbits): save() writes a TIFF the same way.
    tiff_compression: str | None = None

    def __post_init__(self) -> None:
        pixels = self.pixels
        if pixels.ndim != 3 or pixels.shape[2] not in MODES:
            raise ValueError(f"Picture pixels must be (H, W, C) with C in 1..4, got {pixels.shape}")
        if pixels.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"Picture pixels must be uint8 or uint16, got {pixels.dtype}")
        if self.mode != MODES[pixels.shape[2]]:
            raise ValueError(f"mode {self.mode!r} does not match {pixels.shape[2]} channels")
        if self.bit_depth != pixels.dtype.itemsize * 8:
            raise ValueError(f"bit_depth {self.bit_depth} does not match {pixels.dtype}")

    @classmethod
    def from_array(
        cls,
        pixels: np.ndarray,
        *,
        exif: bytes | None = None,
        icc: bytes | None = None,
        source_format: str | None = None,
    ) -> Picture:
        """Wrap an array. Shape: (H, W) or (H, W, C), C in 1..4 -> Picture."""
        pixels = np.asarray(pixels)
        if pixels.ndim == 2:
            pixels = pixels[..., None]
        if pixels.ndim != 3 or pixels.shape[2] not in MODES or pixels.dtype not in (np.uint8, np.uint16):
            raise ValueError(
                f"expected (H, W) or (H, W, 1..4) uint8/uint16 pixels, got {pixels.shape} {pixels.dtype}"
            )
        return cls(pixels, MODES[pixels.shape[2]], pixels.dtype.itemsize * 8, exif, icc, source_format)

    def with_pixels(self, pixels: np.ndarray) -> Picture:
        """The same metadata around new pixels (e.g. the upscaled image)."""
        fresh = Picture.from_array(pixels)
        return replace(self, pixels=fresh.pixels, mode=fresh.mode, bit_depth=fresh.bit_depth)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def format_for_path(path: str | os.PathLike, format: str | None = None) -> str:
    """``png`` / ``jpeg`` / ``webp`` / ``tiff`` from an explicit name or the file suffix."""
    if format is not None:
        name = format.lower().lstrip(".")
        name = {"jpg": "jpeg", "tif": "tiff"}.get(name, name)
        if name not in _PILLOW_FORMAT:
            raise DataError(f"unknown output format {format!r}; choose png, jpg, webp or tiff")
        return name
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: cannot tell the format from the suffix {suffix!r} (use .png .jpg .webp .tif)")
    return FORMATS[suffix]


# ---------------------------------------------------------------------------------------------- load


def header_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """An image file's (width, height) from its header, nothing decoded.

    ``None`` when Pillow cannot identify the file (:func:`load` then says what is wrong with it). A header that
    declares more than twice Pillow's own limit (``Image.MAX_IMAGE_PIXELS``: a decompression bomb) raises
    :class:`~restore.errors.DataError`: Pillow will not open it, so its size is known only to exceed that.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.size
    except Image.DecompressionBombError as exc:
        raise DataError(f"{Path(path).name}: the header declares too many pixels ({exc})") from exc
    except Exception:  # not something Pillow reads: load() explains what is wrong with it
        return None


def _check_size(name: str, width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise DataError(
            f"{name}: {width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,} "
            f"(refused before decoding; raise --max-pixels if the image is genuine)"
        )


def _deep_channels(image: Image.Image, data: bytes) -> int | None:
    """Channel count when the file holds 16-bit colour Pillow would truncate, else None."""
    if image.format == "PNG" and len(data) >= 26 and data[24] == 16 and data[25] in (2, 4, 6):
        return _PNG_CHANNELS[data[25]]
    if image.format == "TIFF" and image.mode not in ("I;16", "I;16B", "I;16L", "I;16N"):
        bits = image.tag_v2.get(258) or (8,)
        bits = bits if isinstance(bits, tuple) else (bits,)
        if max(bits) == 16:
            return len(bits)
    return None


def _tiff_exif(image: Image.Image) -> bytes | None:
    source = image.getexif()
    carried = Image.Exif()
    for tag in source:
        if tag in _DESCRIPTIVE_TIFF_TAGS:
            carried[tag] = source.get_ifd(tag) if tag in (0x8769, 0x8825) else source[tag]
    return carried.tobytes() if len(carried) else None


def _cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(image, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken embedded profile: fall back to the plain conversion below
    return image.convert("RGB")


def _pillow_pixels(image: Image.Image, icc: bytes | None, name: str) -> tuple[np.ndarray, bytes | None]:
    """Decoded Pillow image -> ((H, W, C) uint8/uint16 pixels, ICC still describing them)."""
    mode = image.mode
    transparent = image.has_transparency_data
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.array(image).astype(np.uint16)[..., None], icc
    if mode == "I":
        values = np.array(image)
        if values.min() < 0 or values.max() > 65535:
            raise DataError(f"{name}: 32-bit integer images are not supported (8 or 16-bit expected)")
        return values.astype(np.uint16)[..., None], icc
    if mode == "CMYK":
        return np.array(_cmyk_to_rgb(image, icc)), None  # pixels are sRGB now
    if mode in ("1", "L"):
        target = "LA" if transparent else "L"
    elif mode in ("LA", "La"):
        target = "LA"
    elif mode in ("P", "PA", "RGB", "RGBX", "RGBa", "YCbCr", "LAB", "HSV"):
        target = "RGBA" if transparent else "RGB"
    elif mode == "RGBA":
        target = "RGBA"
    else:
        raise DataError(f"{name}: unsupported pixel format {mode!r} (8/16-bit grey or colour expected)")
    pixels = np.array(image.convert(target) if mode != target else image)
    return (pixels[..., None] if pixels.ndim == 2 else pixels), icc


def _load_tiff_without_pillow(data: bytes, name: str, max_pixels: int | None) -> Picture:
    """TIFF layouts Pillow cannot open (16-bit grey+alpha, for one) through tifffile."""
    try:
        import tifffile

        with tifffile.TiffFile(io.BytesIO(data)) as tiff:
            page = tiff.pages[0]
            _check_size(name, int(page.imagewidth), int(page.imagelength), max_pixels)
            channels = int(page.samplesperpixel)
            orientation_tag = page.tags.get(274)
            icc_tag = page.tags.get(_ICC_TAG)
            orientation = int(orientation_tag.value) if orientation_tag else 1
            icc = bytes(icc_tag.value) if icc_tag else None
            compression = compression_of_tag(page.compression)
    except ImportError:
        raise DataError(f"{name}: cannot read image (unsupported TIFF layout)") from None
    except DataError:
        raise
    except Exception as exc:  # tifffile raises many types for malformed files
        raise DataError(f"{name}: cannot read image ({exc})") from exc
    if channels not in MODES:
        raise DataError(f"{name}: unsupported TIFF with {channels} samples per pixel")
    pixels = decode_tiff_deep(data, channels, name)
    pixels = apply_orientation(pixels, orientation if 1 <= orientation <= 8 else 1)
    return replace(Picture.from_array(pixels, icc=icc, source_format="tiff"), tiff_compression=compression)


def load(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Picture:
    """Read an image file as an upright :class:`Picture` at its own bit depth.

    ``max_pixels``: width * height above which the file is refused from its header alone
    (``None``: no limit of ours; Pillow still refuses headers above twice its own limit).
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise DataError(f"{name}: no such file")
    if not path.is_file():
        raise DataError(f"{name}: not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{name}: cannot read file ({exc.strerror or exc})") from exc
    if not data:
        raise DataError(f"{name}: empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise DataError(f"{name}: refused before decoding, the header declares too many pixels ({exc})") from exc
    except UnidentifiedImageError as exc:
        if path.suffix.lower() in (".tif", ".tiff") and data[:4] in (b"II*\x00", b"MM\x00*"):
            return _load_tiff_without_pillow(data, name, max_pixels)
        raise DataError(f"{name}: not an image, or a format restore cannot read") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{name}: cannot read image ({exc})") from exc
    with image:
        width, height = image.size
        _check_size(name, width, height, max_pixels)
        source_format = (image.format or "").lower() or None
        icc = image.info.get("icc_profile") or None
        exif = _tiff_exif(image) if image.format == "TIFF" else image.info.get("exif") or None
        compression = compression_of_tag(image.tag_v2.get(259)) if image.format == "TIFF" else None
        deep_channels = _deep_channels(image, data)
        try:
            if deep_channels is None:
                image.load()
                pixels, icc = _pillow_pixels(image, icc, name)
        except DataError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise DataError(f"{name}: cannot read image, corrupt or truncated ({exc})") from exc
    if deep_channels is not None:
        decode = decode_png_deep if source_format == "png" else decode_tiff_deep
        pixels = decode(data, deep_channels, name)
    if exif is not None:
        pixels = apply_orientation(pixels, read_orientation(exif))
        exif = reset_orientation(exif)
    picture = Picture.from_array(pixels, exif=exif, icc=icc, source_format=source_format)
    return replace(picture, tiff_compression=compression) if compression else picture


# ---------------------------------------------------------------------------------------------- save


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """16-bit -> 8-bit with rounding (``round(v * 255 / 65535)``, exact in integers); 8-bit as is."""
    if pixels.dtype == np.uint8:
        return pixels
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _flatten_alpha_on_white(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 2|4) uint8 -> (H, W, 1|3): composite over white, as JPEG holds no alpha."""
    colour = pixels[..., :-1].astype(np.float32)
    alpha = pixels[..., -1:].astype(np.float32) / 255.0
    return np.clip(np.rint(colour * alpha + 255.0 * (1.0 - alpha)), 0, 255).astype(np.uint8)


def _check_quality(fmt: str, quality: int | None) -> int:
    if quality is None:
        return _DEFAULT_QUALITY.get(fmt, 0)
    if fmt == "tiff":
        raise DataError("--quality has no meaning for TIFF (written losslessly with deflate)")
    low, high = (0, 9) if fmt == "png" else (1, 100)
    if not low <= quality <= high:
        what = "PNG compression level" if fmt == "png" else f"{fmt.upper()} quality"
        raise DataError(f"{what} must be in {low}..{high}, got {quality}")
    return quality


def _pillow_image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels))


def _encode(stream: BinaryIO, pixels: np.ndarray, fmt: str, quality: int, exif: bytes | None, icc: bytes | None,
            compression: str | None = None):
    metadata = {key: value for key, value in (("exif", exif), ("icc_profile", icc)) if value}
    if fmt == "png":
        if pixels.dtype == np.uint16:
            stream.write(encode_png(pixels, icc=icc, exif=exif, level=quality))
        else:
            _pillow_image(pixels).save(stream, format="PNG", compress_level=quality, **metadata)
    elif fmt == "tiff":
        if pixels.dtype == np.uint16 and pixels.shape[2] > 1:
            stream.write(encode_tiff_deep(pixels, icc=icc, compression=compression))
        else:
            _pillow_image(pixels).save(stream, format="TIFF", compression=pillow_compression(compression), **metadata)
    elif fmt == "jpeg":
        _pillow_image(pixels).save(stream, format="JPEG", quality=quality, **metadata)
    else:
        _pillow_image(pixels).save(stream, format="WEBP", quality=quality, **metadata)


def save(
    path: str | os.PathLike,
    picture: Picture | np.ndarray,
    *,
    format: str | None = None,
    quality: int | None = None,
    exif: bytes | None | _Keep = KEEP,
    icc: bytes | None | _Keep = KEEP,
    compression: str | None = None,
) -> Path:
    """Write ``picture`` to ``path`` atomically (temp file in the same folder + rename).

    ``format``: png / jpg / webp / tiff, default from the suffix. ``quality``: JPEG/WebP quality
    1..100 (defaults 95 / 90) or PNG zlib level 0..9 (default 6); TIFF is always lossless.
    ``exif`` / ``icc``: KEEP the picture's own, ``None`` to drop, or bytes to replace.
    ``compression``: TIFF only, one of :data:`restore.io.tiff_compression.TIFF_COMPRESSIONS` (none, lzw,
    deflate, zstd, packbits; default: the picture's own when it was read from a TIFF, else deflate); every
    one is lossless and every one reads back.
    Returns the path written.
    """
    path = Path(path)
    if isinstance(picture, np.ndarray):
        picture = Picture.from_array(picture)
    fmt = format_for_path(path, format)
    level = _check_quality(fmt, quality)
    if compression is not None:
        if fmt != "tiff":
            raise DataError(f"compression={compression!r} applies to TIFF only, not {fmt.upper()}")
        pillow_compression(compression)  # an unknown name is refused before the file is opened
    elif fmt == "tiff":
        compression = picture.tiff_compression  # a TIFF read as LZW is written as LZW
    exif_bytes = picture.exif if isinstance(exif, _Keep) else exif
    icc_bytes = picture.icc if isinstance(icc, _Keep) else icc
    if exif_bytes:
        exif_bytes = normalise_exif(exif_bytes)
    pixels = picture.pixels
    if fmt in ("jpeg", "webp"):
        pixels = to_8bit(pixels)
    if fmt == "jpeg" and pixels.shape[2] in (2, 4):
        pixels = _flatten_alpha_on_white(pixels)
    try:
        with atomic_writer(path) as stream:
            _encode(stream, pixels, fmt, level, exif_bytes, icc_bytes, compression)
    except DataError:
        raise
    except OSError as exc:
        raise DataError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return path
