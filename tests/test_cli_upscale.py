"""``restore upscale`` and restore.engine.batch: a mixed batch of good and bad files, resume,
no clobbering, structure, logging and the demo. The bicubic model keeps it fast and weight-free."""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import restore.io.picture as picture_module
from restore.cli import main
from restore.io import load, save

RNG = np.random.default_rng(1)
BICUBIC_X2 = ["--model", "bicubic", "--scale", "2", "-q"]


def pixels(height: int, width: int, channels: int, dtype=np.uint8) -> np.ndarray:
    return RNG.integers(0, np.iinfo(dtype).max + 1, size=(height, width, channels), dtype=dtype)


def forged_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.startswith(".restore-tmp-")]


@pytest.fixture()
def mixed_inputs(tmp_path: Path) -> Path:
    """Good images of every kind beside every kind of bad file."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    (root / "other").mkdir()
    save(root / "sub" / "same.png", pixels(6, 5, 3))
    save(root / "other" / "same.png", pixels(4, 4, 3))
    save(root / "élan 猫.jpg", pixels(8, 8, 3))
    save(root / "grey.png", pixels(5, 7, 1))
    save(root / "clear.png", pixels(5, 5, 4))
    save(root / "deep.tif", pixels(4, 6, 3, np.uint16))
    save(root / "dot.png", pixels(1, 1, 3))
    (root / "empty.png").write_bytes(b"")
    (root / "notes.png").write_text("not a picture")
    (root / "bomb.png").write_bytes(forged_png(30000, 30000))
    truncated(save(root / "cut.png", pixels(64, 64, 3)))
    truncated(save(root / "cut.jpg", pixels(64, 64, 3)))
    return root


GOOD = ["clear.png", "deep.tif", "dot.png", "grey.png", "other/same.png", "sub/same.png", "élan 猫.jpg"]
BAD = {
    "empty.png": "empty file",
    "notes.png": "not an image",
    "bomb.png": "refused before decoding",
    "cut.png": "truncated",
    "cut.jpg": "truncated",
}


def test_mixed_batch_completes_with_one_line_per_bad_file(mixed_inputs, tmp_path, capsys):
    out, log = tmp_path / "out", tmp_path / "run.jsonl"
    folder_named_png = tmp_path / "folder.png"
    folder_named_png.mkdir()
    dangling = tmp_path / "broken.png"  # unreadable even for root (chmod 000 is not)
    dangling.symlink_to(tmp_path / "gone.png")
    code = main(["upscale", str(mixed_inputs), str(folder_named_png), str(dangling), "-o", str(out), "--log", str(log), *BICUBIC_X2])
    assert code == 1
    assert files_under(out) == GOOD
    assert no_temp_files(out) and no_temp_files(mixed_inputs)

    assert load(out / "grey.png").mode == "L"
    assert load(out / "clear.png").mode == "RGBA"
    deep = load(out / "deep.tif")
    assert deep.bit_depth == 16 and deep.pixels.shape == (8, 12, 3)
    assert load(out / "dot.png").pixels.shape == (2, 2, 3)
    assert load(out / "sub" / "same.png").pixels.shape == (12, 10, 3)
    assert load(out / "other" / "same.png").pixels.shape == (8, 8, 3)

    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(GOOD) + len(BAD) + 2  # + the folder and the dangling link
    records = {Path(record["input"]).name: record for record in lines}
    for name, reason in BAD.items():
        assert records[name]["status"] == "failed" and reason in records[name]["reason"], records[name]
    assert "folder has no images" in records["folder.png"]["reason"]
    assert "broken.png: no such file" in records["broken.png"]["reason"]
    assert records["élan 猫.jpg"]["status"] == "ok" and records["élan 猫.jpg"]["seconds"] >= 0
    assert set(records["dot.png"]) == {"input", "output", "seconds", "status", "reason"}

    errors = capsys.readouterr().err
    assert "7 upscaled, 0 skipped" in errors and "7 failed" in errors
    for name in BAD:
        assert sum(name in line for line in errors.splitlines() if "FAILED" in line) >= 1


def test_rerun_skips_finished_outputs_and_overwrite_redoes_them(tmp_path, capsys):
    source = tmp_path / "in"
    source.mkdir()
    for index in range(3):
        save(source / f"{index}.png", pixels(4, 4, 3))
    out = tmp_path / "out"
    assert main(["upscale", str(source), "-o", str(out), *BICUBIC_X2]) == 0
    stamp = (out / "0.png").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["upscale", str(source), "-o", str(out), *BICUBIC_X2]) == 0
    assert "0 upscaled, 3 skipped" in capsys.readouterr().out
    assert (out / "0.png").stat().st_mtime_ns == stamp
    assert main(["upscale", str(source), "-o", str(out), "--overwrite", *BICUBIC_X2]) == 0
    assert "3 upscaled, 0 skipped" in capsys.readouterr().out


def test_never_writes_over_an_input(tmp_path, capsys):
    source = tmp_path / "photos"
    source.mkdir()
    save(source / "a.png", pixels(4, 4, 3))
    before = (source / "a.png").read_bytes()
    assert main(["upscale", str(source / "a.png"), "-o", str(source), *BICUBIC_X2]) == 1
    assert "is an input file" in capsys.readouterr().err
    assert (source / "a.png").read_bytes() == before
    assert main(["upscale", str(source / "a.png"), "-o", str(source), "--suffix", "_x2", *BICUBIC_X2]) == 0
    assert files_under(source) == ["a.png", "a_x2.png"]
    assert (source / "a.png").read_bytes() == before


def test_output_folder_that_cannot_be_written(tmp_path, capsys):
    source = tmp_path / "in"
    source.mkdir()
    save(source / "a.png", pixels(4, 4, 3))
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    assert main(["upscale", str(source), "-o", str(blocker / "out"), *BICUBIC_X2]) == 2
    assert "output folder" in capsys.readouterr().err
    assert blocker.read_text() == "in the way"


def test_blocked_output_subfolder_fails_that_item_only(tmp_path, capsys):
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    save(source / "sub" / "a.png", pixels(4, 4, 3))
    save(source / "b.png", pixels(4, 4, 3))
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_text("a file where a folder should be")
    assert main(["upscale", str(source), "-o", str(out), *BICUBIC_X2]) == 1
    assert "FAILED" in capsys.readouterr().err
    assert files_under(out) == ["b.png", "sub"] and no_temp_files(out)


def test_two_inputs_mapping_to_one_output_do_not_collide(tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    save(first / "a.png", pixels(4, 4, 3))
    save(second / "a.png", pixels(6, 6, 3))
    assert main(["upscale", str(first / "a.png"), str(second / "a.png"), "-o", str(tmp_path / "out"), *BICUBIC_X2]) == 1
    assert "also the output of" in capsys.readouterr().err
    assert load(tmp_path / "out" / "a.png").pixels.shape == (8, 8, 3)


def test_glob_keeps_structure_below_the_pattern_root(tmp_path):
    source = tmp_path / "in"
    (source / "x").mkdir(parents=True)
    save(source / "x" / "a.png", pixels(4, 4, 3))
    save(source / "b.jpg", pixels(4, 4, 3))
    assert main(["upscale", str(source / "**" / "*.png"), "-o", str(tmp_path / "out"), *BICUBIC_X2]) == 0
    assert files_under(tmp_path / "out") == ["x/a.png"]


def test_format_and_quality_rules(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    save(source / "deep.png", pixels(4, 4, 4, np.uint16))
    out = tmp_path / "out"
    assert main(["upscale", str(source), "-o", str(out), "--format", "jpg", "--quality", "90", *BICUBIC_X2]) == 0
    written = load(out / "deep.jpg")
    assert written.mode == "RGB" and written.bit_depth == 8 and written.pixels.shape == (8, 8, 3)


def test_interrupted_batch_leaves_no_partial_file_and_resumes(tmp_path, monkeypatch):
    source = tmp_path / "in"
    source.mkdir()
    for name in ("a", "b", "c"):
        save(source / f"{name}.png", pixels(4, 4, 3))
    out = tmp_path / "out"
    real_encode = picture_module._encode
    calls = []

    def crash_halfway_through_second(stream, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            stream.write(b"\x89PNG half of a file")
            raise KeyboardInterrupt
        return real_encode(stream, *args, **kwargs)

    monkeypatch.setattr(picture_module, "_encode", crash_halfway_through_second)
    assert main(["upscale", str(source), "-o", str(out), "--workers", "0", *BICUBIC_X2]) == 130
    assert files_under(out) == ["a.png"] and no_temp_files(out)
    monkeypatch.setattr(picture_module, "_encode", real_encode)
    summary_code = main(["upscale", str(source), "-o", str(out), *BICUBIC_X2])
    assert summary_code == 0 and files_under(out) == ["a.png", "b.png", "c.png"]


def test_nothing_to_do_is_a_clear_error(tmp_path, capsys):
    assert main(["upscale", "-o", str(tmp_path / "out"), *BICUBIC_X2]) == 2
    assert "nothing to upscale" in capsys.readouterr().err
    assert main(["upscale", str(tmp_path / "missing.png"), "-o", str(tmp_path / "out"), *BICUBIC_X2]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_demo_upscales_the_bundled_sample_photos(tmp_path, capsys):
    pytest.importorskip("skimage")
    from restore.cli.upscale import demo_images

    out = tmp_path / "demo"
    assert main(["upscale", "--demo", "-o", str(out), "--scale", "2", "--format", "jpg", "-q"]) == 0
    assert f"results are in {out.resolve()}" in capsys.readouterr().out
    names = [path.with_suffix(".jpg").name for path in demo_images()]
    assert files_under(out) == sorted(names)
    camera = load(out / "camera.jpg")
    assert camera.mode == "L" and camera.pixels.shape == (1024, 1024, 1)
