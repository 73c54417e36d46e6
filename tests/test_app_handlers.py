"""The app's handlers, called directly: fidelity of the upscale download, limits, messages, benchmark, zoo."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restore.app import handlers
from restore.app.config import AppConfig
from restore.app.errors import page_message
from restore.errors import DataError, RestoreError, WeightsError
from test_io import forged_png
from restore.io import load, save


@pytest.fixture()
def config(tmp_path: Path) -> AppConfig:
    return AppConfig(max_pixels=10_000, output_dir=tmp_path / "outputs", device="cpu")


def _gradient_rgba16(height: int, width: int) -> np.ndarray:
    rows = np.linspace(0, 65535, height, dtype=np.float64)[:, None]
    cols = np.linspace(0, 65535, width, dtype=np.float64)[None, :]
    planes = [rows + 0 * cols, cols + 0 * rows, (rows + cols) / 2, np.full((height, width), 40000.0)]
    return np.stack(planes, axis=2).round().astype(np.uint16)


def test_upscale_keeps_16_bit_alpha_and_format(tmp_path: Path, config: AppConfig) -> None:
    from restore.engine.api import upscale

    pixels = _gradient_rgba16(9, 7)
    source = save(tmp_path / "deep.png", pixels)
    result = handlers.upscale_image(source, "bicubic", 2, tile="auto", config=config)

    assert result.output_path.suffix == ".png" and result.output_path.is_relative_to(config.output_dir)
    written = load(result.output_path)
    assert (written.mode, written.bit_depth, written.height, written.width) == ("RGBA", 16, 18, 14)
    np.testing.assert_array_equal(written.pixels, upscale(pixels, "bicubic", 2, device="cpu"))
    # Before and after are one size, 8-bit, and equal when the model is the bicubic baseline itself.
    assert result.before.shape == result.after.shape == (18, 14, 4)
    assert result.before.dtype == np.uint8
    np.testing.assert_array_equal(result.before, result.after)
    assert "7×9 → 14×18" in result.summary and "RGBA 16-bit PNG" in result.summary
    assert result.seconds >= 0


def test_upscale_grey_jpeg_comes_back_as_jpeg(tmp_path: Path, config: AppConfig) -> None:
    source = tmp_path / "grey.jpg"
    Image.fromarray(np.tile(np.arange(0, 240, 20, dtype=np.uint8), (10, 1))).save(source, quality=95)
    result = handlers.upscale_image(str(source), "bicubic", 3, tile="none", config=config)
    written = load(result.output_path)
    assert result.output_path.name == "grey_bicubic_x3.jpg"
    assert (written.mode, written.height, written.width) == ("L", 30, 36)
    assert result.after.shape == (30, 36, 3)  # grey shown as RGB in the browser


def test_pixel_limit_refuses_before_decoding(tmp_path: Path, config: AppConfig) -> None:
    source = tmp_path / "large.png"
    Image.new("RGB", (200, 60)).save(source)
    with pytest.raises(DataError, match=r"large.png is 200x60 = 12,000 pixels; this app accepts images up to 10,000"):
        handlers.upscale_image(source, "bicubic", 4, config=config)
    assert handlers.check_pixel_limit(source, 12_000) == (200, 60)
    assert handlers.megapixels(16_000_000) == "16.0 MP"
    bomb = tmp_path / "bomb.png"  # a header Pillow refuses to open: only "too many" is known
    bomb.write_bytes(forged_png(30000, 30000))
    with pytest.raises(DataError, match=r"^bomb.png is far too large: this app accepts images up to 10,000 pixels$"):
        handlers.upscale_image(bomb, "bicubic", 4, config=config)


def test_upscale_messages_for_missing_input_and_unknown_model(tmp_path: Path, config: AppConfig) -> None:
    with pytest.raises(DataError, match="upload an image first"):
        handlers.upscale_image(None, "bicubic", 4, config=config)
    source = save(tmp_path / "small.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(WeightsError, match="unknown model 'nope'"):
        handlers.upscale_image(source, "nope", 4, config=config)
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    with pytest.raises(DataError, match="not an image"):
        handlers.upscale_image(not_image, "bicubic", 4, config=config)


def test_parse_tile() -> None:
    assert handlers.parse_tile("auto") == "auto"
    assert handlers.parse_tile("none") is None
    assert handlers.parse_tile("256") == 256
    with pytest.raises(RestoreError, match="too small"):
        handlers.parse_tile("4")
    with pytest.raises(RestoreError, match="'auto', 'none' or a size"):
        handlers.parse_tile("big")


def test_model_choices_label_cards_with_their_psnr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tiny_x4.safetensors").write_bytes(b"not read when listing")
    card = {"name": "tiny", "arch": "rcan", "scale": 4, "weights": "tiny_x4.safetensors",
            "metrics": {"Set5": {"psnr": 30.1, "ssim": 0.85}, "Set14": {"psnr": 27.0}}}
    (tmp_path / "tiny_x4.json").write_text(json.dumps(card))
    monkeypatch.setenv("RESTORE_MODELS_DIR", str(tmp_path))
    assert handlers.model_choices(4) == [("tiny x4 — Set5 30.10 dB", "tiny"), ("bicubic", "bicubic")]
    assert handlers.model_choices(2) == [("bicubic", "bicubic")]


def test_style_without_model_gives_the_apis_message(tmp_path: Path, config: AppConfig,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import restore.style.models as style_models

    monkeypatch.setattr(style_models, "DEFAULT_STYLE_MODEL", tmp_path / "absent.safetensors")
    content = save(tmp_path / "content.png", np.full((16, 16, 3), 90, np.uint8))
    style = save(tmp_path / "style.png", np.full((16, 16, 3), 200, np.uint8))
    with pytest.raises(WeightsError, match="no style model at .*absent.safetensors; train one"):
        handlers.stylize_image(content, [style], 0.8, config=config)
    assert "No style model is installed" in handlers.style_model_notice()
    with pytest.raises(DataError, match="at least one style image"):
        handlers.stylize_image(content, [], config=config)


def test_style_with_a_model_file_renders_the_content_size(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from restore.style.build import build_sanet

    torch.manual_seed(0)
    network = build_sanet("vgg16")  # the VGG-16 backbone scripts/setup.sh fetches; random transformer/decoder
    tensors = {f"{part}.{key}": value.contiguous() for part in ("transformer", "decoder")
               for key, value in getattr(network, part).state_dict().items()}
    model_file = tmp_path / "random-sanet.safetensors"
    save_file(tensors, str(model_file))
    config = AppConfig(output_dir=tmp_path / "outputs", style_model=str(model_file))
    rng = np.random.default_rng(1)
    content = save(tmp_path / "content.png", rng.integers(0, 256, (20, 28, 3), dtype=np.uint8))
    styles = [save(tmp_path / f"style{k}.png", rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)) for k in range(2)]

    result = handlers.stylize_image(content, styles, 0.5, True, config=config)
    assert result.image.shape == (20, 28, 3) and result.image.dtype == np.uint8
    np.testing.assert_array_equal(load(result.output_path).pixels, result.image)
    assert "in the style of style0, style1 (sanet, alpha 0.50, colours kept)" in result.summary
    # The page's "take the painting's colours" box reaches stylize: unticked, the decoder's own colours.
    painted = handlers.stylize_image(content, styles, 1.0, config=config)
    raw = handlers.stylize_image(content, styles, 1.0, palette="network", config=config)
    assert "the network's colours" in raw.summary and "the network's colours" not in painted.summary
    assert not np.array_equal(painted.image, raw.image)
    assert handlers.style_model_notice(model_file) == "Style model: `random-sanet.safetensors`."
    # The preview: the result, then a column with both paintings (6 rows each: (20 - 8) // 2), on white.
    gap = handlers.PREVIEW_GAP
    assert result.preview.shape == (20, 28 + gap + 6, 3)
    np.testing.assert_array_equal(result.preview[:, :28], result.image)
    assert (result.preview[:, 28:28 + gap] == 255).all()
    for index, style in enumerate(styles):
        top = index * (6 + gap)
        painting = np.asarray(Image.fromarray(load(style).pixels).resize((6, 6), Image.LANCZOS))
        np.testing.assert_array_equal(result.preview[top:top + 6, 28 + gap:], painting)


def test_preview_puts_the_painting_beside_the_result_and_fits_the_page() -> None:
    result = np.zeros((300, 2000, 3), np.uint8)
    painting = np.full((100, 50, 3), 200, np.uint8)
    preview = handlers.beside_paintings(result, [painting])
    # 2000 + 8 + 150 wide (the painting at the result's height), shrunk to 1600: 1600 x 222.
    assert preview.shape == (222, 1600, 3)
    assert abs(float(preview[:, -100:].mean()) - 200) < 1 and float(preview[:, :1400].mean()) == 0


def test_style_estimate_names_the_method_and_scales_with_size_method_and_iterations(
    tmp_path: Path, config: AppConfig
) -> None:
    content = save(tmp_path / "content.png", np.zeros((60, 80, 3), np.uint8))
    style = save(tmp_path / "style.png", np.zeros((50, 50, 3), np.uint8))

    def seconds(text: str) -> float:
        import re

        number, unit = re.search(r"about \*\*([\d.]+) (s|min|h)\*\*", text).groups()
        return float(number) * {"s": 1, "min": 60, "h": 3600}[unit]

    assert handlers.style_estimate(None, None, config=config).startswith("**sanet** will run")
    small = handlers.style_estimate(content, [style], "sanet", 256, config=config)
    large = handlers.style_estimate(content, [style], "sanet", 2048, config=config)
    assert "**sanet** will run" in small and "for 256×192" in small and "for 2048×1536" in large
    assert seconds(large) > 10 * seconds(small)
    # Below alpha 1 the content's own transform is attended and decoded too; alpha 0 is the content itself.
    half = handlers.style_estimate(content, [style], "sanet", 2048, alpha=0.5, config=config)
    assert seconds(half) > 1.2 * seconds(large)
    assert "returns the content itself (2048×1536)" in handlers.style_estimate(content, [style], "sanet", 2048,
                                                                             alpha=0.0, config=config)
    optimize = handlers.style_estimate(content, [style], "optimize", 512, config=config)
    longer = handlers.style_estimate(content, [style], "optimize", 512, iterations=(300, 60), config=config)
    assert "**optimize** will run" in optimize and "alpha and mixing do not apply" in optimize
    assert seconds(optimize) > 5 * seconds(handlers.style_estimate(content, [style], "sanet", 512, config=config))
    assert 1.8 < seconds(longer) / seconds(optimize) < 2.2
    # What a run would refuse is said in place of a number, not raised.
    two = handlers.style_estimate(content, [style, style], "optimize", 512, config=config)
    assert "**Will not run:** optimize renders one painting at a time (2 given)" in two
    big = save(tmp_path / "big.png", np.zeros((101, 100, 3), np.uint8))
    assert "**Will not run:** big.png is 100x101" in handlers.style_estimate(big, [style], config=config)


def test_optimize_reports_progress_and_refuses_what_it_cannot_do(tmp_path: Path, config: AppConfig) -> None:
    from restore.weights.backbones import ensure_backbone

    try:
        ensure_backbone("vgg16")
    except WeightsError as exc:
        pytest.skip(str(exc))
    rng = np.random.default_rng(2)
    content = save(tmp_path / "content.png", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    style = save(tmp_path / "style.png", rng.integers(0, 256, (30, 30, 3), dtype=np.uint8))
    calls: list[tuple[int, int]] = []
    result = handlers.stylize_image(content, [style], method="optimize", iterations=(4, 2), config=config,
                                    progress=lambda done, total: calls.append((done, total)))
    assert result.image.shape == (24, 32, 3) and "(optimize, 4/2 iterations)" in result.summary
    assert len(calls) >= 4 and len({total for _, total in calls}) == 1
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    with pytest.raises(DataError, match="optimize renders one painting at a time"):
        handlers.stylize_image(content, [style, style], method="optimize", config=config)
    with pytest.raises(DataError, match=r"content.png at this size with 150/30 iterations is .* of optimisation work"):
        handlers.stylize_image(content, [style], method="optimize", size=2048,
                               config=AppConfig(max_pixels=10_000, max_work=1_000_000, output_dir=config.output_dir))


def test_page_messages_never_carry_a_traceback() -> None:
    import gradio as gr

    from restore.app.errors import shown_in_page

    assert page_message(DataError("x.png: no such file")) == "x.png: no such file"
    assert page_message(RuntimeError("CUDA out of memory\nTraceback ...")) == "something went wrong: CUDA out of memory"
    assert page_message(KeyError()) == "something went wrong: KeyError"

    def broken() -> None:
        raise ZeroDivisionError("division by zero")

    with pytest.raises(gr.Error) as caught:
        shown_in_page(broken)()
    assert caught.value.message == "something went wrong: division by zero"


def test_benchmark_datasets_lists_only_present_benchmark_sets(datasets_dir: Path) -> None:
    from restore.datasets import get_dataset, list_datasets

    present = handlers.benchmark_datasets(datasets_dir)
    expected = [spec.name for spec in list_datasets()
                if spec.role == "benchmark" and get_dataset(spec.name, datasets_dir).is_present()]
    assert present == expected and "Set5" in present


def test_bicubic_benchmark_on_set5_matches_the_published_number(datasets_dir: Path, tmp_path: Path) -> None:
    config = AppConfig(data_root=str(datasets_dir), output_dir=tmp_path, device="cpu")
    result = handlers.run_benchmark_job("bicubic", 4, "Set5", config=config)
    assert result.columns == ["image", "PSNR (dB)", "SSIM", "seconds"]
    assert [row[0] for row in result.rows] == ["baby", "bird", "butterfly", "head", "woman", "mean"]
    assert float(result.rows[-1][1]) == pytest.approx(28.42, abs=0.02)  # the papers' bicubic Set5 x4
    assert all(len(row[1].split(".")[1]) == 2 and len(row[2].split(".")[1]) == 4 for row in result.rows)
    assert result.chart_path.stat().st_size > 0 and result.chart_path.read_bytes()[:4] == b"\x89PNG"
    assert {"summary.md", "results.json", "images.csv"} <= {path.name for path in result.report_dir.iterdir()}
    assert "bicubic x4 on Set5" in result.summary and dict(result.published)["bicubic"] == pytest.approx(28.42)
    with pytest.raises(DataError, match="choose a dataset"):
        handlers.run_benchmark_job("bicubic", 4, None, config=config)


def test_models_markdown_lists_every_zoo_entry() -> None:
    from restore.zoo import listing

    table = handlers.models_markdown()
    rows = [line for line in table.splitlines() if line.startswith("| **")]
    assert len(rows) == len(listing(with_gflops=False))
    # Official architectures show their papers' numbers, marked as such (RCAN x4 Set5: 32.63 dB, 0.9002).
    rcan = next(row for row in rows if row.startswith("| **rcan** | super-resolution | x4 |"))
    assert "15.59 M" in rcan and "bring your own" in rcan and "32.63 / 0.9002 (paper)" in rcan
    assert "- **rcan**: RCAN (Zhang et al., ECCV 2018)" in table
