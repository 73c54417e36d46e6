"""``restore bench --model``: the bicubic baselines under the papers' protocol, the report, and clear errors."""
from __future__ import annotations

import csv
import json
import math
import os
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from restore.cli import main
from restore.evaluation.published import published_gaps, published_scores, published_sources
from restore.zoo import sha256_file

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


@pytest.fixture(scope="module")
def set5_only_root(datasets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding only Set5 (a link to the shared one), so that Urban100 is absent from it."""
    root = tmp_path_factory.mktemp("set5-only")
    os.symlink(datasets_dir / "Set5", root / "Set5")
    return root


@pytest.fixture(scope="module")
def bicubic_report(set5_only_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, str]:
    """One run shared by the tests that read its outputs: bicubic on Set5 at x4 and x2, Urban100 (absent) named."""
    folder = tmp_path_factory.mktemp("bench")
    argv = ["bench", "--model", "bicubic", "--dataset", "Set5,Urban100", "--scale", "4,2",
            "--data-root", str(set5_only_root),
            "--json", str(folder / "scores.json"), "--csv", str(folder / "rows.csv"),
            "--report", str(folder / "report")]
    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert main(argv) == 0
    return json.loads((folder / "scores.json").read_text()), folder, out.getvalue() + err.getvalue()


def test_bicubic_reproduces_the_papers_baselines(bicubic_report: tuple[dict, Path, str]) -> None:
    scores, _, _ = bicubic_report
    by_scale = {row["scale"]: row for row in scores["results"]}
    assert (round(by_scale[4]["psnr"], 2), round(by_scale[4]["ssim"], 4)) == (28.43, 0.8111)
    assert (round(by_scale[2]["psnr"], 2), round(by_scale[2]["ssim"], 4)) == (33.67, 0.9303)


def test_json_shape(bicubic_report: tuple[dict, Path, str]) -> None:
    scores, _, _ = bicubic_report
    assert len(scores["results"]) == 2
    for row in scores["results"]:
        assert {"model", "dataset", "scale", "psnr", "ssim", "seconds", "params", "images"} <= set(row)
        assert row["model"] == "bicubic" and row["dataset"] == "Set5" and row["params"] == 0
        assert "lpips" not in row  # not requested
        assert [image["name"] for image in row["images"]] == ["baby", "bird", "butterfly", "head", "woman"]
        for image in row["images"]:
            assert {"name", "psnr", "ssim"} <= set(image) and math.isfinite(image["psnr"])
        assert row["psnr"] == pytest.approx(sum(image["psnr"] for image in row["images"]) / 5)
        assert row["seconds"] == pytest.approx(sum(image["seconds"] for image in row["images"]))
    assert scores["absent"][0]["dataset"] == "Urban100"
    assert scores["lpips"]["computed"] is False


def test_absent_set_is_named_and_the_present_one_still_runs(bicubic_report: tuple[dict, Path, str]) -> None:
    _, _, output = bicubic_report
    assert "bicubic x4 Set5: PSNR 28.43" in output
    assert "Urban100 is absent" in output and "Traceback" not in output


def test_report_files(bicubic_report: tuple[dict, Path, str]) -> None:
    _, folder, _ = bicubic_report
    report = folder / "report"
    summary = (report / "summary.md").read_text()
    assert "Y channel, BT.601 16–235 (MATLAB rgb2ycbcr), border crop = scale, output rounded to uint8" in summary
    assert "| RCAN (published) | 32.63 | 0.9002 | RCAN paper (ECCV 2018), Table 3 |" in summary
    assert "| RCAN (published) | 38.27 | 0.9614 |" in summary
    assert "Urban100 is absent" in summary
    chart = report / "psnr_vs_cost.png"
    assert chart.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(chart) as image:
        image.verify()
    assert json.loads((report / "results.json").read_text())["results"][0]["model"] == "bicubic"
    with open(folder / "rows.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10 and rows[0]["image"] == "baby" and rows[0]["lpips"] == ""


def test_only_absent_sets_is_an_error(set5_only_root: Path, capsys: pytest.CaptureFixture) -> None:
    err = _error(["bench", "--model", "bicubic", "--dataset", "Urban100", "--scale", "4",
                  "--data-root", str(set5_only_root)], capsys)
    assert "no requested dataset is present" in err
    assert "Urban100 is absent" in err and "HR/img_001" in err


def test_bicubic_on_the_real_urban100(datasets_dir: Path, tmp_path: Path) -> None:
    """The shared Urban100 HR set under our protocol (MATLAB-exact bicubic LR made on the fly)."""
    report = tmp_path / "scores.json"
    assert main(["bench", "--model", "bicubic", "--dataset", "Urban100", "--scale", "4", "--json", str(report)]) == 0
    (row,) = json.loads(report.read_text())["results"]
    assert row["dataset"] == "Urban100" and len(row["images"]) == 100
    assert (round(row["psnr"], 2), round(row["ssim"], 4)) == (23.14, 0.6581)


def test_self_ensemble_on_bicubic(datasets_dir: Path, tmp_path: Path) -> None:
    report = tmp_path / "scores.json"
    assert main(["bench", "--model", "bicubic", "--dataset", "Set5", "--scale", "4", "--self-ensemble",
                 "--json", str(report)]) == 0
    scores = json.loads(report.read_text())
    assert scores["self_ensemble"] is True
    # Bicubic commutes with flips; transposes change only which axis MATLAB rounds first.
    assert scores["results"][0]["psnr"] == pytest.approx(28.43, abs=0.03)


def test_tiny_card_model_runs_through_bench(
    datasets_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from restore.archs import build_model

    torch.manual_seed(0)
    config = {"n_resgroups": 1, "n_resblocks": 1, "n_feats": 8, "reduction": 4}
    network = build_model("rcan", 2, **config)
    weights = tmp_path / "tiny-rcan_x2.safetensors"
    save_file({key: value.half().contiguous() for key, value in network.state_dict().items()}, str(weights))
    card = {"name": "tiny-rcan", "arch": "rcan", "scale": 2, "config": config, "weights": weights.name,
            "sha256": sha256_file(weights), "summary": "random test weights", "metrics": {}}
    (tmp_path / "tiny-rcan_x2.json").write_text(json.dumps(card))
    monkeypatch.setenv("RESTORE_MODELS_DIR", str(tmp_path))
    report = tmp_path / "scores.json"
    assert main(["bench", "--model", "tiny-rcan,bicubic", "--dataset", "Set5", "--scale", "2", "--device", "cpu",
                 "--json", str(report)]) == 0
    rows = {row["model"]: row for row in json.loads(report.read_text())["results"]}
    assert rows["tiny-rcan"]["params"] == sum(value.numel() for value in network.state_dict().values())
    assert len(rows["tiny-rcan"]["images"]) == 5 and math.isfinite(rows["tiny-rcan"]["psnr"])
    assert rows["tiny-rcan"]["psnr"] < rows["bicubic"]["psnr"]  # random weights


def _linked_set5(datasets_dir: Path, root: Path) -> Path:
    """A data root whose Set5 files are links to the shared ones (nothing copied), to be altered per test."""
    source = datasets_dir / "Set5"
    for path in source.rglob("*"):
        if path.is_file():
            target = root / "Set5" / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, target)
    return root / "Set5"


def test_bad_data_is_named(datasets_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["bench", "--model", "bicubic", "--dataset", "Set5", "--scale", "4", "--data-root", str(tmp_path)]
    folder = _linked_set5(datasets_dir, tmp_path)
    (folder / "HR" / "bird.png").unlink()
    assert f"Set5: missing {folder / 'HR' / 'bird.png'}" in _error(argv, capsys)

    os.symlink(datasets_dir / "Set5" / "HR" / "bird.png", folder / "HR" / "bird.png")
    (folder / "HR" / "head.png").unlink()
    (folder / "HR" / "head.png").write_bytes(b"not a png")
    assert f"{folder / 'HR' / 'head.png'}: bytes is 9" in _error(argv, capsys)

    # Same size as the real file, so only decoding can tell.
    size = (datasets_dir / "Set5" / "HR" / "head.png").stat().st_size
    (folder / "HR" / "head.png").write_bytes(b"\0" * size)
    assert "head.png: cannot read image" in _error(argv, capsys)


def test_usage_errors_are_clear(capsys: pytest.CaptureFixture) -> None:
    err = _error(["bench", "--model", "bicubic", "--dataset", "Set6", "--scale", "4"], capsys)
    assert "unknown dataset 'Set6'" in err
    assert "no weights for rcan x4" in _error(["bench", "--model", "rcan", "--dataset", "Set5", "--scale", "4"], capsys)
    assert "--dataset" in _error(["bench", "--model", "bicubic", "--scale", "4"], capsys)
    assert "positive integers" in _error(["bench", "--model", "bicubic", "--dataset", "Set5", "--scale", "x4"], capsys)
    err = _error(["bench", "--model", "rcan,rdn", "--dataset", "Set5", "--scale", "4", "--weights", "w.pt"], capsys)
    assert "--weights applies to one model" in err


def test_published_table_has_sources_for_every_row() -> None:
    sources = published_sources()
    rows = published_scores()
    assert rows and all(row.source in sources for row in rows)
    assert {(row.method, row.scale) for row in published_scores("Set5")} >= {
        ("RCAN", 2), ("RCAN", 3), ("RCAN", 4), ("SAN", 4), ("RDN", 4), ("RNAN", 4), ("EDSR", 4), ("bicubic", 4)}
    rcan_x4 = {row.dataset: (row.psnr, row.ssim) for row in published_scores(scale=4) if row.method == "RCAN"}
    assert rcan_x4 == {"Set5": (32.63, 0.9002), "Set14": (28.87, 0.7889), "BSD100": (27.77, 0.7436),
                       "Urban100": (26.82, 0.8087), "Manga109": (31.22, 0.9173)}
    assert published_gaps()
