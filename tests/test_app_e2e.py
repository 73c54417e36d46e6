"""The app served on 127.0.0.1 and driven over HTTP with gradio_client: upload, queue, download, limits."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from restore.app import AppConfig, launch
from restore.io import load, save

PIXEL_LIMIT = 4096
# Gradio's queue calls pandas options that pandas 3 deprecates; that is Gradio's business, not the app's.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
