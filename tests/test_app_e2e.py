"""The app served on 127.0.0.1 and driven over HTTP with gradio_client: upload, queue, download, limits."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from restore.app import AppConfig, launch
from restore.io import load, save
from loopback import free_port

PIXEL_LIMIT = 4096
# Gradio's queue calls pandas options that pandas 3 deprecates; that is Gradio's business, not the app's.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from gradio_client import Client

    config = AppConfig(max_pixels=PIXEL_LIMIT, output_dir=tmp_path_factory.mktemp("app-outputs"), device="cpu")
    demo = launch(config, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        assert demo.local_url.startswith("http://127.0.0.1:")
        yield Client(demo.local_url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))
    finally:
        demo.close()


def _upscale(client: object, path: Path, scale: int) -> tuple:
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), "bicubic", scale, "auto", False, "auto", api_name="/upscale")


def test_upscale_round_trip_returns_the_full_size_result(client: object, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    source = save(tmp_path / "tiny.png", rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    (before, after), summary, download = _upscale(client, source, 4)
    result = load(download)
    assert (result.height, result.width, result.mode) == (48, 40, "RGB")
    assert load(before).pixels.shape[:2] == load(after).pixels.shape[:2] == (48, 40)
    assert "10×12 → 40×48" in summary


def test_16_bit_alpha_survives_upload_and_download(client: object, tmp_path: Path) -> None:
    pixels = np.zeros((8, 6, 4), np.uint16)
    pixels[..., 0] = np.arange(48, dtype=np.uint16).reshape(8, 6) * 1000 + 7
    pixels[..., 3] = 65535
    pixels[:2, :, 3] = 0
    source = save(tmp_path / "deep.png", pixels)
    _, _, download = _upscale(client, source, 2)
    result = load(download)
    assert (result.height, result.width, result.mode, result.bit_depth) == (16, 12, "RGBA", 16)
    assert Path(download).name == "deep_bicubic_x2.png"


def test_oversized_upload_gets_the_limit_message(client: object, tmp_path: Path) -> None:
    from gradio_client.exceptions import AppError

    source = save(tmp_path / "large.png", np.zeros((80, 80, 3), np.uint8))
    with pytest.raises(AppError, match=r"large.png is 80x80 = 6,400 pixels; this app accepts images up to 4,096 pixels"):
        _upscale(client, source, 4)


# ------------------------------------------------------------------------------------------ style tab


def _style_inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A 56x40 photo-like content and two 48x48 paintings of different colours."""
    rng = np.random.default_rng(3)
    content = save(tmp_path / "content.png", rng.integers(60, 200, (40, 56, 3), dtype=np.uint8))
    warm = np.zeros((48, 48, 3), np.uint8)
    warm[..., 0], warm[::4, :, 1] = 220, 160
    cool = np.zeros((48, 48, 3), np.uint8)
    cool[..., 2], cool[:, ::4, 1] = 220, 120
    return content, save(tmp_path / "warm.png", warm), save(tmp_path / "cool.png", cool)


def _style_model_or_skip() -> None:
    from restore.errors import WeightsError
    from restore.style.models import DEFAULT_STYLE_MODEL
    from restore.weights.backbones import ensure_backbone

    if not DEFAULT_STYLE_MODEL.is_file():
        pytest.skip(f"no style model at {DEFAULT_STYLE_MODEL}")
    try:
        ensure_backbone("vgg16")
    except WeightsError as exc:
        pytest.skip(str(exc))


def test_style_estimate_says_the_method_and_follows_size_and_method(client: object, tmp_path: Path) -> None:
    from gradio_client import handle_file

    content, warm, _ = _style_inputs(tmp_path)

    def estimate(method: str, size: str, first: int = 150, finer: int = 30) -> str:
        return client.predict(handle_file(str(content)), [handle_file(str(warm))], method, size, 1.0, first, finer,
                              api_name="/style_estimate")

    small, large = estimate("sanet", "256"), estimate("sanet", "2048")
    assert small.startswith("**sanet** will run") and "for 256×183" in small and "for 2048×1463" in large
    assert small != large
    optimize = estimate("optimize", "256")
    assert optimize.startswith("**optimize** will run") and "for 256×183" in optimize
    assert optimize != small and estimate("optimize", "256", 300, 60) != optimize


def test_style_methods_run_and_the_preview_shows_the_painting_beside_the_result(client: object,
                                                                                 tmp_path: Path) -> None:
    from gradio_client import handle_file

    from PIL import Image

    _style_model_or_skip()
    content, warm, cool = _style_inputs(tmp_path)
    for method, expected in (("sanet", "(sanet, alpha 1.00)"), ("optimize", "(optimize, 10/5 iterations)")):
        preview, summary, download = client.predict(handle_file(str(content)), [handle_file(str(warm))], 1.0, False,
                                                    method, "the content's", 10, 5, api_name="/stylize")
        assert expected in summary
        result, shown = load(download).pixels, load(preview).pixels
        assert result.shape == (40, 56, 3)  # the download is the result alone
        # The preview: the result, 8 white columns, then the painting at the result's height.
        assert shown.shape == (40, 56 + 8 + 40, 3)
        np.testing.assert_array_equal(shown[:, :56], result)
        painting = shown[:, 64:].astype(int)
        for source, near in ((warm, True), (cool, False)):
            resized = np.asarray(Image.fromarray(load(source).pixels).resize((40, 40), Image.LANCZOS)).astype(int)
            assert (np.abs(painting - resized).mean() < 1) == near


def test_the_painting_colours_box_reaches_the_stylizer(client: object, tmp_path: Path) -> None:
    from gradio_client import handle_file

    _style_model_or_skip()
    content, warm, _ = _style_inputs(tmp_path)
    summaries = {ticked: client.predict(handle_file(str(content)), [handle_file(str(warm))], 1.0, False, "sanet",
                                        "the content's", 10, 5, ticked, api_name="/stylize")[1]
                 for ticked in (True, False)}
    assert "the network's colours" not in summaries[True] and "the network's colours" in summaries[False]


def test_optimize_refuses_several_paintings_in_the_page(client: object, tmp_path: Path) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    content, warm, cool = _style_inputs(tmp_path)
    with pytest.raises(AppError, match="optimize renders one painting at a time \\(2 given\\)"):
        client.predict(handle_file(str(content)), [handle_file(str(warm)), handle_file(str(cool))], 1.0, False,
                       "optimize", "the content's", 10, 5, api_name="/stylize")


def test_optimize_shows_its_progress(client: object, tmp_path: Path) -> None:
    from gradio_client import handle_file

    _style_model_or_skip()
    content, warm, _ = _style_inputs(tmp_path)
    job = client.submit(handle_file(str(content)), [handle_file(str(warm))], 1.0, False, "optimize", "the content's",
                        10, 5, api_name="/stylize")
    assert "(optimize, 10/5 iterations)" in job.result()[1]
    # Every status message the server sent stays in the job's queue, so none is missed however fast the job ran.
    updates = []
    while not job.communicator.updates.empty():
        updates.append(job.communicator.updates.get_nowait())
    shown = [update.progress_data[0] for update in updates if getattr(update, "progress_data", None)]
    assert shown and all("loss evaluations" in unit.desc for unit in shown)
    fractions = [unit.progress for unit in shown]
    assert fractions == sorted(fractions) and 0 < fractions[-1] <= 1
