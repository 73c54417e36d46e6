"""engine/batch.py's steps: the tile callback the batch lends its upscaler, order and bounds of the pipeline."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from restore.engine.batch import upscale_paths
from restore.io import load, save


class RecordingDoubler:
    """An ArrayUpscaler: doubles pixels and records the ``progress`` it sees at each call."""

    def __init__(self, progress=None) -> None:
        self.progress = progress
        self.seen: list[object] = []

    def upscale_array(self, pixels: np.ndarray) -> np.ndarray:
        self.seen.append(self.progress)
        if self.progress is not None:
            self.progress(1, 2)
            self.progress(2, 2)
        if pixels[0, 0, 0] == 13:
            raise ValueError("unlucky pixel")
        return np.repeat(np.repeat(pixels, 2, axis=0), 2, axis=1)


def _inputs(folder: Path, values: list[int]) -> Path:
    folder.mkdir(parents=True)
    for number, value in enumerate(values):
        save(folder / f"{number:02d}.png", np.full((3, 5, 3), value, np.uint8))
    return folder


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_every_item_ends_once_in_input_order_whatever_the_workers(tmp_path, workers):
    source = _inputs(tmp_path / "in", [1, 2, 13, 4, 5, 6, 7])
    summary = upscale_paths([source], tmp_path / "out", RecordingDoubler(), progress=False, workers=workers)
    assert [r.input.name for r in summary.results] == [f"{n:02d}.png" for n in range(7)]
    assert [r.status for r in summary.results] == ["ok", "ok", "failed", "ok", "ok", "ok", "ok"]
    assert "unlucky pixel" in summary.results[2].reason
    assert load(tmp_path / "out" / "06.png").pixels.shape == (6, 10, 3)


def test_the_batch_lends_its_tile_bar_to_an_idle_upscaler_and_takes_it_back(tmp_path):
    upscaler = RecordingDoubler()
    upscale_paths([_inputs(tmp_path / "in", [1, 2])], tmp_path / "out", upscaler, progress=True, workers=0)
    assert all(callable(progress) for progress in upscaler.seen) and upscaler.progress is None


def test_an_upscaler_with_its_own_listener_keeps_it(tmp_path):
    calls: list[tuple[int, int]] = []
    upscaler = RecordingDoubler(progress=lambda done, total: calls.append((done, total)))
    upscale_paths([_inputs(tmp_path / "in", [1])], tmp_path / "out", upscaler, progress=True, workers=0)
    assert calls == [(1, 2), (2, 2)] and upscaler.progress is not None


def test_no_tile_bar_without_progress(tmp_path):
    upscaler = RecordingDoubler()
    upscale_paths([_inputs(tmp_path / "in", [1])], tmp_path / "out", upscaler, progress=False, workers=0)
    assert upscaler.seen == [None]
