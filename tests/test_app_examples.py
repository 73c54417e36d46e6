"""The app's shipped examples (public domain / CC0, small, with provenance) and its 100 % zoom (issue 18,
item 9). The browser test clicks them; these check the files and the pixels."""
from __future__ import annotations

import csv
import hashlib

import numpy as np

from restore.app.crop_view import detail_window, full_size_crops, thumbnail
from restore.app.examples import EXAMPLES_DIR, examples
from restore.engine.api import upscale
from restore.io.image import write_image


def _manifest() -> list[dict[str, str]]:
    with (EXAMPLES_DIR / "MANIFEST.tsv").open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def test_every_example_is_listed_with_its_checksum_source_and_licence() -> None:
    rows = _manifest()
    files = sorted(path.name for path in EXAMPLES_DIR.iterdir() if path.name != "MANIFEST.tsv")
    assert sorted(row["file"] for row in rows) == files
    for row in rows:
        data = (EXAMPLES_DIR / row["file"]).read_bytes()
        assert len(data) == int(row["bytes"]) and hashlib.sha256(data).hexdigest() == row["sha256"], row["file"]
        assert row["source"] and row["source_sha256"]
        assert row["licence"].lower().startswith(("public domain", "cc0")), row
    assert sum(int(row["bytes"]) for row in rows) < 1_000_000
    assert {row["role"] for row in rows} == {"style", "content", "upscale"}
    assert len(examples("style")) >= 4 and len(examples("content")) >= 2
    assert examples("style")[0].caption == "Claude Monet, Impression, Sunrise (1882)"


def test_zoom_shows_bicubic_and_the_output_on_the_same_full_size_window() -> None:
    rng = np.random.default_rng(0)
    source = np.full((48, 64, 3), 120, np.uint8)
    source[20:36, 40:60] = rng.integers(0, 256, (16, 20, 3))  # the only detail
    output = upscale(source, "bicubic", 3, device="cpu", tile=None)
    top, left, side = detail_window(output, 3, side=60)
    assert side == 60 and top % 3 == 0 and left % 3 == 0
    assert top <= 60 and top + side >= 3 * 36 - 3 and left <= 120 and left + side >= 3 * 60 - 3  # over the detail
    before, after = full_size_crops(source, output, 3, side=60)
    assert before.shape == after.shape == (60, 60, 3)
    assert np.array_equal(after, output[top:top + side, left:left + side])
    # the "before" is bicubic on that window, exactly as the whole image's bicubic has it
    assert np.array_equal(before, output[top:top + side, left:left + side])


def test_zoom_of_16_bit_grey_is_8_bit_rgb_for_the_browser() -> None:
    source = (np.arange(20 * 24, dtype=np.uint16).reshape(20, 24, 1) * 100)
    output = upscale(source, "bicubic", 2, device="cpu", tile=None)
    before, after = full_size_crops(source, output, 2, side=16)
    assert before.dtype == after.dtype == np.uint8 and before.shape == after.shape == (16, 16, 3)


def test_thumbnail_of_an_upload(tmp_path) -> None:
    write_image(tmp_path / "wide.png", np.zeros((100, 1000, 3), np.uint8))
    assert thumbnail(tmp_path / "wide.png").shape == (32, 320, 3)
    (tmp_path / "broken.png").write_bytes(b"nope")
    assert thumbnail(tmp_path / "broken.png") is None and thumbnail(None) is None
