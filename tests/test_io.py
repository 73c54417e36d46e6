"""restore.io.picture: full-fidelity load/save, metadata, format rules and every bad input."""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from restore.errors import DataError
from restore.distributed import pixel_weight
from restore.io import Picture, header_size, load, save
from restore.io.orientation import read_orientation
from restore.io.picture import to_8bit

RNG = np.random.default_rng(0)


def random_pixels(height: int, width: int, channels: int, dtype) -> np.ndarray:
    return RNG.integers(0, np.iinfo(dtype).max + 1, size=(height, width, channels), dtype=dtype)


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_with(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "RestoreCam"  # Make: proves the rest of the EXIF is carried
    return exif.tobytes()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def forged_png(width: int, height: int) -> bytes:
    """A valid signature and IHDR declaring width x height, with a few bytes of image data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + png_chunk(b"IEND", b""))


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.startswith(".restore-tmp-")]


# ------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_lossless_round_trip_keeps_depth_and_channels(tmp_path, suffix, dtype, channels):
    pixels = random_pixels(9, 7, channels, dtype)
    path = save(tmp_path / f"image{suffix}", pixels)
    picture = load(path)
    assert picture.mode == {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    assert picture.bit_depth == np.iinfo(dtype).bits
    assert picture.pixels.dtype == dtype
    np.testing.assert_array_equal(picture.pixels, pixels)


def test_sixteen_bit_colour_png_is_read_by_other_decoders_at_full_depth(tmp_path):
    import cv2

    pixels = random_pixels(5, 6, 3, np.uint16)
    save(tmp_path / "deep.png", pixels)
    decoded = cv2.imread(str(tmp_path / "deep.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded[..., ::-1], pixels)


def test_grey_in_grey_out(tmp_path):
    Image.fromarray(random_pixels(8, 8, 1, np.uint8)[..., 0], "L").save(tmp_path / "grey.jpg", quality=95)
    picture = load(tmp_path / "grey.jpg")
    assert picture.mode == "L" and picture.pixels.shape == (8, 8, 1)
    save(tmp_path / "out.png", picture)
    assert Image.open(tmp_path / "out.png").mode == "L"


def test_palette_becomes_rgb_and_transparent_palette_rgba(tmp_path):
    palette_image = Image.fromarray(np.array([[0, 1], [2, 1]], np.uint8), "P")
    palette_image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    palette_image.save(tmp_path / "opaque.png")
    palette_image.save(tmp_path / "clear.png", transparency=1)
    opaque = load(tmp_path / "opaque.png")
    assert opaque.mode == "RGB"
    np.testing.assert_array_equal(opaque.pixels[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(opaque.pixels[1, 0], [0, 0, 255])
    clear = load(tmp_path / "clear.png")
    assert clear.mode == "RGBA"
    np.testing.assert_array_equal(clear.pixels[..., 3], [[255, 0], [255, 0]])


def test_rgb_with_trns_colour_gets_alpha(tmp_path):
    pixels = np.zeros((2, 2, 3), np.uint8)
    pixels[0, 0] = 200
    Image.fromarray(pixels).save(tmp_path / "key.png", transparency=(0, 0, 0))
    picture = load(tmp_path / "key.png")
    assert picture.mode == "RGBA"
    np.testing.assert_array_equal(picture.pixels[..., 3], [[255, 0], [0, 0]])


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    # cyan, black, white and yellow patches: their RGB is the same under every CMYK formula
    cmyk = np.zeros((16, 64, 4), np.uint8)
    cmyk[:, :16] = [255, 0, 0, 0]
    cmyk[:, 16:32] = [0, 0, 0, 255]
    cmyk[:, 48:] = [0, 0, 255, 0]
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "print.jpg", quality=100)
    picture = load(tmp_path / "print.jpg")
    assert picture.mode == "RGB"
    centres = picture.pixels[8, [8, 24, 40, 56]].astype(int)
    expected = np.array([[0, 255, 255], [0, 0, 0], [255, 255, 255], [255, 255, 0]])
    assert np.abs(centres - expected).max() <= 6


def test_cmyk_with_unusable_icc_falls_back_to_plain_conversion(tmp_path):
    cmyk = np.full((8, 8, 4), [0, 0, 0, 255], np.uint8)
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "icc.jpg", quality=100, icc_profile=srgb_icc())
    picture = load(tmp_path / "icc.jpg")
    assert picture.mode == "RGB" and picture.pixels.max() <= 6
    assert picture.icc is None  # the pixels are now plain sRGB


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied_like_pillow_and_reset(tmp_path, orientation):
    pixels = random_pixels(3, 5, 3, np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png", exif=exif_with(orientation))
    picture = load(tmp_path / "photo.png")
    upright = np.array(ImageOps.exif_transpose(Image.open(tmp_path / "photo.png")))
    np.testing.assert_array_equal(picture.pixels, upright)
    assert read_orientation(picture.exif) == 1


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_exif_and_icc_carried_to_every_format(tmp_path, suffix):
    icc = srgb_icc()
    Image.fromarray(random_pixels(6, 4, 3, np.uint8)).save(
        tmp_path / "camera.jpg", exif=exif_with(6), icc_profile=icc, quality=95
    )
    picture = load(tmp_path / "camera.jpg")
    assert picture.pixels.shape == (4, 6, 3)  # orientation 6 turned it upright
    save(tmp_path / f"out{suffix}", picture)
    with Image.open(tmp_path / f"out{suffix}") as written:
        assert written.info.get("icc_profile") == icc
        exif = written.getexif()
        assert exif.get(0x010F) == "RestoreCam"
        assert exif.get(0x0112) == 1
        assert written.size == (6, 4)


def test_sixteen_bit_png_carries_exif_and_icc(tmp_path):
    picture = Picture.from_array(random_pixels(4, 4, 4, np.uint16), exif=exif_with(1), icc=srgb_icc())
    save(tmp_path / "deep.png", picture)
    again = load(tmp_path / "deep.png")
    assert again.icc == picture.icc and read_orientation(again.exif) == 1
    assert Image.open(tmp_path / "deep.png").getexif().get(0x010F) == "RestoreCam"


def test_jpeg_rules_sixteen_to_eight_bits_and_alpha_over_white(tmp_path):
    pixels = np.zeros((8, 8, 4), np.uint16)
    pixels[..., :3] = 257 * 40
    pixels[:4, ..., 3] = 65535  # top half opaque grey 40, bottom half fully transparent
    save(tmp_path / "flat.jpg", pixels, quality=100)
    written = np.array(Image.open(tmp_path / "flat.jpg"))
    assert written.shape == (8, 8, 3)
    assert np.abs(written[1, 1].astype(int) - 40).max() <= 3
    assert written[6, 6].min() >= 250


def test_to_8bit_rounds():
    values = np.array([0, 128, 129, 257 * 77, 257 * 77 + 128, 65535], np.uint16)
    np.testing.assert_array_equal(to_8bit(values), [0, 0, 1, 77, 77, 255])


def test_webp_has_no_grey_so_it_comes_back_as_rgb(tmp_path):
    pixels = random_pixels(8, 8, 1, np.uint8)
    save(tmp_path / "grey.webp", pixels, quality=100)
    assert load(tmp_path / "grey.webp").mode == "RGB"


def test_quality_is_checked_per_format(tmp_path):
    pixels = random_pixels(4, 4, 3, np.uint8)
    with pytest.raises(DataError, match="PNG compression level"):
        save(tmp_path / "a.png", pixels, quality=50)
    with pytest.raises(DataError, match="JPEG quality"):
        save(tmp_path / "a.jpg", pixels, quality=0)
    with pytest.raises(DataError, match="TIFF"):
        save(tmp_path / "a.tif", pixels, quality=90)
    small = save(tmp_path / "small.jpg", pixels, quality=10).stat().st_size
    assert small < save(tmp_path / "big.jpg", pixels, quality=100).stat().st_size
    with pytest.raises(DataError, match="format"):
        save(tmp_path / "a.bmp", pixels)


def test_one_by_one_pixel(tmp_path):
    for suffix in (".png", ".jpg", ".tif"):
        Image.new("RGB", (1, 1), (10, 20, 30)).save(tmp_path / f"dot{suffix}")
        assert load(tmp_path / f"dot{suffix}").pixels.shape == (1, 1, 3)


# ------------------------------------------------------------------------------------ bad inputs


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.png: empty file"):
        load(tmp_path / "empty.png")


def test_text_file_named_png(tmp_path):
    (tmp_path / "notes.png").write_text("this is not a picture\n")
    with pytest.raises(DataError, match=r"notes\.png: not an image"):
        load(tmp_path / "notes.png")


@pytest.mark.parametrize("suffix,dtype", [(".png", np.uint8), (".png", np.uint16), (".jpg", np.uint8)])
def test_truncated_file(tmp_path, suffix, dtype):
    path = save(tmp_path / f"whole{suffix}", random_pixels(64, 64, 3, dtype))
    data = path.read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"cut\{suffix}: .*(truncated|corrupt)"):
        load(tmp_path / f"cut{suffix}")


def test_forged_huge_header_refused_before_decoding(tmp_path):
    (tmp_path / "bomb.png").write_bytes(forged_png(30000, 30000))
    with pytest.raises(DataError, match=r"bomb\.png: .*(refused before decoding|too many pixels)"):
        load(tmp_path / "bomb.png")


def test_header_size_reads_the_header_alone(tmp_path):
    # One reader of header sizes serves the app's pixel limit and torchrun's work sharing (pixel_weight).
    (tmp_path / "forged.png").write_bytes(forged_png(40, 30))  # its data would not decode
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "bomb.png").write_bytes(forged_png(30000, 30000))
    assert header_size(tmp_path / "forged.png") == (40, 30)
    assert header_size(tmp_path / "notes.png") is None
    with pytest.raises(DataError, match=r"bomb\.png: the header declares too many pixels"):
        header_size(tmp_path / "bomb.png")
    # Shares are weighed by work: a file refused from its header costs its rank nothing.
    assert [pixel_weight(tmp_path / name) for name in ("forged.png", "notes.png", "bomb.png")] == [1200, 1, 1]


def test_pixel_limit_is_ours_and_checked_from_the_header(tmp_path):
    # The forged image data is not a valid 40x40 image: a decode would fail with "truncated",
    # so the pixel-limit message proves the refusal came from the header alone.
    (tmp_path / "large.png").write_bytes(forged_png(40, 40))
    with pytest.raises(DataError, match=r"40x40 = 1,600 pixels exceeds the limit of 1,000"):
        load(tmp_path / "large.png", max_pixels=1000)
    with pytest.raises(DataError, match="truncated|corrupt"):
        load(tmp_path / "large.png", max_pixels=None)


def test_unreadable_paths(tmp_path):
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(DataError, match=r"folder\.png: not a file"):
        load(tmp_path / "folder.png")
    with pytest.raises(DataError, match=r"missing\.png: no such file"):
        load(tmp_path / "missing.png")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads chmod-000 files anyway")
def test_permission_denied(tmp_path):
    path = save(tmp_path / "secret.png", random_pixels(2, 2, 3, np.uint8))
    path.chmod(0)
    try:
        with pytest.raises(DataError, match=r"secret\.png: cannot read file"):
            load(path)
    finally:
        path.chmod(0o644)


# ------------------------------------------------------------------------------------ atomic writes


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    pixels = random_pixels(4, 4, 3, np.uint8)
    save(tmp_path / "kept.png", pixels)
    before = (tmp_path / "kept.png").read_bytes()

    def half_then_crash(self, stream, *args, **kwargs):
        stream.write(b"\x89PNG half of a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", half_then_crash)
    for name in ("new.png", "kept.png"):
        with pytest.raises(KeyboardInterrupt):
            save(tmp_path / name, pixels[::-1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.png"]
    assert (tmp_path / "kept.png").read_bytes() == before


def test_written_files_get_ordinary_permissions(tmp_path):
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"")
    written = save(tmp_path / "atomic.png", random_pixels(2, 2, 3, np.uint8))
    assert written.stat().st_mode == plain.stat().st_mode


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        save(tmp_path / "nowhere" / "x.png", random_pixels(2, 2, 3, np.uint8))


def test_picture_validates_its_fields():
    with pytest.raises(ValueError):
        Picture(np.zeros((2, 2, 3), np.uint8), "RGBA", 8)
    with pytest.raises(ValueError):
        Picture.from_array(np.zeros((2, 2, 5), np.uint8))
    assert Picture.from_array(np.zeros((2, 3), np.uint16)).mode == "L"
