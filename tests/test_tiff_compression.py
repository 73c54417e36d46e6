"""TIFF with every common compression reads and writes through restore.io at full depth (issue 18).

OpenCV, GIMP and scanners write 16-bit TIFF with LZW, Deflate or Zstd; tifffile decodes those only with
imagecodecs, which restore depends on.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from restore.errors import DataError
from restore.io import load, save
from restore.io.tiff_compression import TIFF_COMPRESSIONS

# restore's name -> the TIFF Compression tag value a reader sees
TAGS = {"none": 1, "lzw": 5, "deflate": 8, "zstd": 50000, "packbits": 32773}
# what other programs write: tifffile's names for the same codecs
FOREIGN = {"none": None, "lzw": "lzw", "deflate": "zlib", "zstd": "zstd", "packbits": "packbits"}
LAYOUTS = {"rgb16": (np.uint16, 3), "rgba16": (np.uint16, 4), "grey16": (np.uint16, 1), "rgb8": (np.uint8, 3)}


def _pixels(dtype: type, channels: int) -> np.ndarray:
    """Shape: (9, 11, channels); a gradient plus noise, so every codec has something to compress."""
    rng = np.random.default_rng(channels)
    top = np.iinfo(dtype).max
    ramp = np.linspace(0, top, 11, dtype=np.float64)[None, :, None]
    noise = rng.integers(0, top // 8, (9, 11, channels))
    return np.clip(ramp + noise, 0, top).astype(dtype)


def test_every_compression_is_listed() -> None:
    assert set(TIFF_COMPRESSIONS) == set(TAGS)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("compression", TAGS)
def test_tiff_written_by_another_program_loads_at_full_depth(tmp_path: Path, compression: str, layout: str) -> None:
    dtype, channels = LAYOUTS[layout]
    pixels = _pixels(dtype, channels)
    path = tmp_path / f"{layout}_{compression}.tif"
    options = {"extrasamples": [2]} if channels == 4 else {}
    tifffile.imwrite(path, pixels if channels > 1 else pixels[..., 0],
                     photometric="rgb" if channels >= 3 else "minisblack", compression=FOREIGN[compression], **options)
    with tifffile.TiffFile(path) as tiff:
        assert tiff.pages[0].compression == TAGS[compression]
    picture = load(path)
    assert picture.pixels.dtype == dtype and picture.pixels.shape == (9, 11, channels)
    assert np.array_equal(picture.pixels, pixels)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("compression", TAGS)
def test_save_writes_the_asked_compression_and_reads_back_losslessly(tmp_path: Path, compression: str,
                                                                     layout: str) -> None:
    dtype, channels = LAYOUTS[layout]
    pixels = _pixels(dtype, channels)
    path = save(tmp_path / f"{layout}.tif", pixels, compression=compression)
    with tifffile.TiffFile(path) as tiff:
        assert tiff.pages[0].compression == TAGS[compression]
    again = load(path)
    assert again.pixels.dtype == dtype and np.array_equal(again.pixels, pixels)


def test_default_tiff_compression_is_deflate(tmp_path: Path) -> None:
    path = save(tmp_path / "a.tif", _pixels(np.uint16, 3))
    with tifffile.TiffFile(path) as tiff:
        assert tiff.pages[0].compression == TAGS["deflate"]


def test_unknown_or_misplaced_compression_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown TIFF compression 'jpeg2000'; choose none, lzw"):
        save(tmp_path / "a.tif", _pixels(np.uint8, 3), compression="jpeg2000")
    with pytest.raises(DataError, match="applies to TIFF only"):
        save(tmp_path / "a.png", _pixels(np.uint8, 3), compression="lzw")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("layout", ["rgb16", "grey16", "rgb8"])
@pytest.mark.parametrize("compression", ["lzw", "zstd", "none"])
def test_an_upscaled_tiff_keeps_its_compression(tmp_path: Path, compression: str, layout: str,
                                                capsys: pytest.CaptureFixture) -> None:
    from restore.cli import main

    dtype, channels = LAYOUTS[layout]
    pixels = _pixels(dtype, channels)
    source = tmp_path / "in" / "scan.tif"
    source.parent.mkdir()
    tifffile.imwrite(source, pixels if channels > 1 else pixels[..., 0],
                     photometric="rgb" if channels >= 3 else "minisblack", compression=FOREIGN[compression])
    assert load(source).tiff_compression == compression
    assert main(["upscale", str(source), "-o", str(tmp_path / "out"), "--model", "bicubic", "--scale", "2", "-q"]) == 0
    output = tmp_path / "out" / "scan.tif"
    with tifffile.TiffFile(output) as tiff:
        assert tiff.pages[0].compression == TAGS[compression]
    upscaled = load(output)
    assert upscaled.pixels.dtype == dtype and upscaled.pixels.shape == (18, 22, channels)
