"""``restore degrade`` and ``restore bench --sr-dir``: round trips in tmp_path and clear errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from restore.cli import main
from restore.io.image import read_image, write_image


def test_degrade_reproduces_published_lr(datasets_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["degrade", str(datasets_dir / "Set5" / "HR"), "-o", str(tmp_path), "--scale", "4,2"]) == 0
    assert "wrote 10 LR images (x2, x4)" in capsys.readouterr().out
    for scale in (2, 4):
        written = sorted(p.name for p in (tmp_path / f"X{scale}").iterdir())
        assert written == sorted(p.name for p in (datasets_dir / "Set5" / "LR_bicubic" / f"X{scale}").iterdir())
        for name in written:
            expected = read_image(datasets_dir / "Set5" / "LR_bicubic" / f"X{scale}" / name)
            assert np.array_equal(read_image(tmp_path / f"X{scale}" / name), expected), name


def test_bench_sr_dir_reproduces_rcan_mean(reference_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    report = tmp_path / "scores.json"
    argv = ["bench", "--sr-dir", str(reference_dir / "rcan_set5" / "SR" / "RCAN" / "x4"),
            "--hr-dir", str(reference_dir / "rcan_set5" / "HR" / "x4"), "--scale", "4", "--json", str(report)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mean" in out and "32.633562" in out and "0.900241" in out
    (scores,) = json.loads(report.read_text())["results"]  # one row, as a --model run writes
    assert scores["scale"] == 4 and scores["channel"] == "Y"
    assert abs(scores["psnr"] - 32.633562) <= 1e-6 and abs(scores["ssim"] - 0.900241) <= 1e-6
    assert len(scores["images"]) == 5


def test_bench_sr_dir_reproduces_rdn_mean_against_full_hr(reference_dir: Path, datasets_dir: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    argv = ["bench", "--sr-dir", str(reference_dir / "rdn_set5" / "SR" / "RDN" / "x3"),
            "--hr-dir", str(datasets_dir / "Set5" / "HR"), "--scale", "3"]
    assert main(argv) == 0
    assert "34.705790" in capsys.readouterr().out  # RDN x3 Set5 mean in the authors' results file


def _fake_set(folder: Path, names: list[str], size: tuple[int, int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        write_image(folder / name, rng.integers(0, 256, (*size, 3), dtype=np.uint8))


def _error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


def test_bench_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    hr, sr = tmp_path / "hr", tmp_path / "sr"
    _fake_set(hr, ["a.png", "b.png"], (34, 30))
    _fake_set(sr, ["a_x4.png"], (32, 28))
    err = _error(["bench", "--sr-dir", str(tmp_path / "nope"), "--hr-dir", str(hr), "--scale", "4"], capsys)
    assert "--sr-dir" in err and "no such folder" in err
    err = _error(["bench", "--sr-dir", str(sr), "--hr-dir", str(hr), "--scale", "4"], capsys)
    assert "no SR image for 1 of 2 HR images: b" in err
    _fake_set(sr, ["b_x4.png"], (30, 30))
    err = _error(["bench", "--sr-dir", str(sr), "--hr-dir", str(hr), "--scale", "4"], capsys)
    assert "b_x4.png: size 30x30 does not match its HR b.png" in err and "(28x32)" in err
    (sr / "b_x4.png").write_bytes(b"garbage")
    err = _error(["bench", "--sr-dir", str(sr), "--hr-dir", str(hr), "--scale", "4"], capsys)
    assert "b_x4.png: cannot read image" in err
    assert "--hr-dir and --scale" in _error(["bench", "--sr-dir", str(sr)], capsys)
    assert "nothing to score" in _error(["bench"], capsys)


def test_degrade_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    err = _error(["degrade", str(tmp_path / "missing"), "-o", str(out), "--scale", "4"], capsys)
    assert "missing: no such folder" in err
    hr = tmp_path / "hr"
    _fake_set(hr, ["a.png"], (16, 16))
    assert "positive integers" in _error(["degrade", str(hr), "-o", str(out), "--scale", "two"], capsys)
    (hr / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert main(["degrade", str(hr), "-o", str(out), "--scale", "2"]) == 1  # the others are written
    assert "broken.png: cannot read image" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no images found" in _error(["degrade", str(empty), "-o", str(out), "--scale", "2"], capsys)


def test_degrade_keeps_greyscale(datasets_dir: Path, tmp_path: Path) -> None:
    hr = tmp_path / "hr"
    hr.mkdir()
    shutil.copy(datasets_dir / "Set14" / "HR" / "bridge.png", hr / "bridge.png")  # a tmp copy, not into the repo
    assert main(["degrade", str(hr), "-o", str(tmp_path / "lr"), "--scale", "3"]) == 0
    expected = read_image(datasets_dir / "Set14" / "LR_bicubic" / "X3" / "bridgex3.png")
    assert np.array_equal(read_image(tmp_path / "lr" / "X3" / "bridgex3.png"), expected)
