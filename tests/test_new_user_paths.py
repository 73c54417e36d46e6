"""What a new user trips over (issue 18): the zoo listing and its one ranking rule, one JSON shape for
`restore bench`, the report's command, upscale naming its model, stylize's usage errors and file modes,
a closed pipe, and failures printed once."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from restore.cli import main
from restore.io.image import write_image
from restore.paths import REPO_ROOT
from restore.zoo import baseline_metrics, default_model, listing, ranked_models

SCALES = (2, 3, 4)


def _plain_file_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


# ------------------------------------------------------------------------------------------ item 3: the zoo


def test_zoo_json_lists_the_style_model_with_a_task_column(capsys: pytest.CaptureFixture) -> None:
    assert main(["zoo", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(row["task"] in ("super-resolution", "style transfer") for row in rows)
    (style,) = [row for row in rows if row["task"] == "style transfer"]
    assert style["name"] == "sanet-vgg16" and style["scale"] is None and style["bundled"]
    assert style["params"] > 1_000_000 and style["weights"].endswith("sanet-vgg16.safetensors")


def test_zoo_lists_bundled_models_first_and_marks_one_default_per_scale() -> None:
    rows = listing(with_gflops=False)
    bundled = [row["bundled"] for row in rows]
    assert bundled == sorted(bundled, reverse=True), "a paper configuration is listed before a bundled model"
    for scale in SCALES:
        at_scale = [row for row in rows if row["scale"] == scale and row["bundled"]]
        defaults = [row["name"] for row in at_scale if row["default"]]
        assert defaults == [default_model(scale)] == [at_scale[0]["name"]]
        trained = [row["metrics"]["Set5"]["psnr"] for row in at_scale if row["card"]]
        assert trained == sorted(trained, reverse=True)  # ranked by Set5, best first
        assert at_scale[-1]["name"] == "bicubic"


def test_zoo_table_marks_the_default(capsys: pytest.CaptureFixture) -> None:
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert f"{default_model(4)}*" in out and "sanet-vgg16" in out and "style transfer" in out


def test_the_app_menus_and_models_tab_follow_the_zoo() -> None:
    from restore.app.handlers import model_choices, models_markdown

    for scale in SCALES:
        names = [name for _, name in model_choices(scale)]
        assert names == [entry.name for entry in ranked_models(scale)] + ["bicubic"]
        assert names[0] == default_model(scale)
    table = models_markdown()
    names = [line.split("**")[1] for line in table.splitlines() if line.startswith("| **")]
    assert names == [row["name"] for row in listing(with_gflops=False)]
    assert "| **sanet-vgg16** | style transfer |" in table
    # bicubic shows our protocol's measurement; the papers' number sits in the note
    assert "| **bicubic** | super-resolution | x4 | bicubic | 0 | none needed | 28.43 / 0.8111 |" in table
    assert "The papers print bicubic as (dB):" in table and "Set5 x4 28.42" in table


def test_recorded_bicubic_numbers_are_what_bench_measures(datasets_dir: Path) -> None:
    from restore.evaluation import run_benchmark

    recorded = baseline_metrics("bicubic")
    assert recorded[2]["Set5"] == {"psnr": pytest.approx(33.67, abs=0.005), "ssim": pytest.approx(0.9303, abs=5e-5)}
    assert recorded[4]["Set5"] == {"psnr": pytest.approx(28.43, abs=0.005), "ssim": pytest.approx(0.8111, abs=5e-5)}
    run = run_benchmark(["bicubic"], [2, 3, 4], ["Set5"], data_root=datasets_dir, device="cpu", precision="fp32")
    for result in run.results:
        assert recorded[result.scale]["Set5"]["psnr"] == pytest.approx(result.psnr, abs=1e-4)
        assert recorded[result.scale]["Set5"]["ssim"] == pytest.approx(result.ssim, abs=1e-4)


# ------------------------------------------------------------------------------------------ items 4 and 7: bench


def test_sr_dir_json_has_the_shape_of_a_model_run(reference_dir: Path, tmp_path: Path) -> None:
    report = tmp_path / "scores.json"
    assert main(["bench", "--sr-dir", str(reference_dir / "rcan_set5" / "SR" / "RCAN" / "x4"),
                 "--hr-dir", str(reference_dir / "rcan_set5" / "HR" / "x4"), "--scale", "4", "--json", str(report)]) == 0
    payload = json.loads(report.read_text())
    (row,) = payload["results"]
    assert {"scale", "psnr", "ssim", "images"} <= set(row) and len(row["images"]) == 5
    assert report.stat().st_mode & 0o777 == _plain_file_mode()  # written by restore.io.atomic, not mkstemp's 0600


def test_report_cites_the_arguments_main_was_given(datasets_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["pytest", "--something-else"])
    report = tmp_path / "report"
    argv = ["bench", "--model", "bicubic", "--dataset", "Set5", "--scale", "4", "--data-root", str(datasets_dir),
            "--report", str(report)]
    assert main(argv) == 0
    assert f"Command: `restore {shlex.join(argv)}`" in (report / "summary.md").read_text()


def _bench_parser() -> argparse.ArgumentParser:
    from restore.cli import bench

    parser = argparse.ArgumentParser(prog="restore bench", exit_on_error=False)
    bench.add_arguments(parser)
    return parser


def test_the_apps_report_command_is_one_restore_bench_accepts(datasets_dir: Path, tmp_path: Path) -> None:
    from restore.app import AppConfig, handlers

    config = AppConfig(data_root=str(datasets_dir), output_dir=tmp_path, device="cpu")
    result = handlers.run_benchmark_job("bicubic", 4, "Set5", config=config)
    line = next(line for line in (result.report_dir / "summary.md").read_text().splitlines()
                if line.startswith("Command: "))
    words = shlex.split(line.removeprefix("Command: ").strip("`"))
    assert words[:2] == ["restore", "bench"]
    args = _bench_parser().parse_args(words[2:])  # an unknown flag (--sets) would raise
    assert (args.model, args.dataset, args.scale) == ("bicubic", "Set5", "4")


# ------------------------------------------------------------------------------------------ item 5: upscale


def test_upscale_auto_says_which_model_it_chose(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_image(tmp_path / "a.png", np.full((6, 5, 3), 90, np.uint8))
    assert main(["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--scale", "2", "-q"]) == 0
    assert "model:" not in capsys.readouterr().out  # --quiet
    assert main(["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "out2"), "--scale", "2"]) == 0
    assert f"model: {default_model(2)} x2 (--model auto" in capsys.readouterr().out


def test_bicubic_upscales_at_any_integer_scale(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from restore.io import load

    write_image(tmp_path / "a.png", np.full((6, 5, 3), 90, np.uint8))
    assert main(["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--scale", "5"]) == 0
    assert "model: bicubic x5" in capsys.readouterr().out
    assert load(tmp_path / "out" / "a.png").pixels.shape == (30, 25, 3)


def test_a_trained_model_at_a_missing_scale_names_its_scales(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_image(tmp_path / "a.png", np.full((6, 5, 3), 90, np.uint8))
    name = default_model(4)
    assert main(["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--model", name, "--scale", "5"]) == 2
    err = capsys.readouterr().err
    assert f"model '{name}' has no x5 entry; available scales: [2, 3, 4]" in err and "bicubic" not in err


# ------------------------------------------------------------------------------------------ item 6


def test_stylize_takes_q_and_refuses_alpha_outside_0_1_as_a_usage_error(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture) -> None:
    from restore.cli import stylize

    parser = argparse.ArgumentParser()
    stylize.add_arguments(parser)
    assert parser.parse_args(["c.png", "--style", "s.png", "-o", "out", "-q"]).quiet
    for bad in ("2", "-0.1", "nan", "x"):
        with pytest.raises(SystemExit) as stop:
            main(["stylize", "c.png", "--style", "s.png", "-o", str(tmp_path), "--alpha", bad])
        assert stop.value.code == 2
        assert "expected a number in [0, 1]" in capsys.readouterr().err


def test_stylize_passes_palette_to_sanet_and_defaults_to_the_paintings(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from restore.cli import stylize
    from restore.style import models

    stylize_module = importlib.import_module("restore.style.stylize")  # the package's name is the function
    seen = []
    monkeypatch.setattr(models, "load_style_model", lambda path: "model")
    monkeypatch.setattr(stylize_module, "stylize", lambda content, styles, **options: seen.append(options["palette"]))
    parser = argparse.ArgumentParser()
    stylize.add_arguments(parser)
    for extra, palette in (([], "painting"), (["--palette", "network"], "network")):
        args = parser.parse_args(["c.png", "--style", "s.png", "-o", "out", *extra])
        stylize._renderer(args, None)("c.png", ["style"])
        assert seen[-1] == palette
    with pytest.raises(SystemExit):
        parser.parse_args(["c.png", "--style", "s.png", "-o", "out", "--palette", "photo"])


def test_written_images_get_plain_file_permissions(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    assert path.stat().st_mode & 0o777 == _plain_file_mode()


def test_a_closed_pipe_ends_quietly() -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "restore", "zoo", "--json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=environment, cwd=REPO_ROOT)
    process.stdout.close()  # the reader is gone before the first line, as `| head -0` would be
    _, err = process.communicate(timeout=300)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err
    assert process.returncode == 141


def test_an_upscale_failure_is_reported_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "bad.png").write_bytes(b"not an image")
    write_image(tmp_path / "good.png", np.full((4, 4, 3), 50, np.uint8))
    assert main(["upscale", str(tmp_path / "bad.png"), str(tmp_path / "good.png"), "-o", str(tmp_path / "out"),
                 "--model", "bicubic", "--scale", "2"]) == 1
    captured = capsys.readouterr()
    assert sum("bad.png" in line for line in (captured.out + captured.err).splitlines()) == 1


# ------------------------------------------------------------------------------------------ item 10


def test_zoo_export_benches_urban100_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from restore.training import export

    seen = {}
    monkeypatch.setattr(export, "export_checkpoint", lambda *args, **kwargs: seen.update(kwargs))
    assert main(["zoo", "export", str(tmp_path / "checkpoint.pt"), "--name", "some-model"]) == 0
    assert seen["datasets"] == ("Set5", "Set14", "B100", "Urban100")


def test_a_stylize_failure_is_reported_once_and_outputs_are_plain_files(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    from restore.errors import WeightsError
    from restore.style.models import DEFAULT_STYLE_MODEL

    if not DEFAULT_STYLE_MODEL.is_file():
        pytest.skip(f"{DEFAULT_STYLE_MODEL} is absent")
    rng = np.random.default_rng(0)
    write_image(tmp_path / "content.png", rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
    write_image(tmp_path / "painting.png", rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
    (tmp_path / "zz_broken.png").write_bytes(b"garbage")
    try:
        status = main(["stylize", str(tmp_path / "content.png"), "--style", str(tmp_path / "painting.png"),
                       str(tmp_path / "zz_broken.png"), "-o", str(tmp_path / "out")])
    except WeightsError as exc:  # the VGG-16 backbone is not cached here
        pytest.skip(str(exc))
    captured = capsys.readouterr()
    if "vgg16" in captured.err.lower() and status == 2:
        pytest.skip(captured.err)
    assert status == 1
    assert sum("zz_broken" in line for line in (captured.out + captured.err).splitlines()) == 1
    assert (tmp_path / "out" / "content_painting.png").stat().st_mode & 0o777 == _plain_file_mode()
