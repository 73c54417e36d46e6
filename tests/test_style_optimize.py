"""``restore stylize --method optimize``: Gatys-style pixel optimisation on the VGG-16 losses (tiny images)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from restore.metrics.palette import palette_distance
from restore.style.data import image_tensor
from restore.style.optimize import optimize_stylize, scale_plan


@pytest.fixture(scope="module")
def encoder():
    from restore.style.build import build_vgg16_encoder
    from restore.weights import fetch_backbones

    fetch_backbones()
    return build_vgg16_encoder()


def _pictures() -> tuple[np.ndarray, np.ndarray]:
    """A grey-green photo-like gradient (content) and a red/blue striped 'painting' (style)."""
    rows, cols = np.mgrid[0:30, 0:40]
    content = np.stack([80 + rows * 2, 110 + cols, 90 + rows], axis=-1).astype(np.uint8)
    stripes = ((np.mgrid[0:36, 0:36][1] // 4) % 2).astype(bool)
    style = np.where(stripes[..., None], [200, 30, 40], [20, 40, 190]).astype(np.uint8)
    return content, style


def test_scale_plan_doubles_from_the_first_side_up_to_the_size() -> None:
    assert scale_plan(512) == [128, 256, 512]
    assert scale_plan(700) == [128, 256, 512, 700]
    assert scale_plan(100) == [100]


def test_optimisation_takes_the_painting_palette_and_is_seeded(encoder) -> None:
    content, style = _pictures()
    calls: list[tuple[int, int]] = []
    kwargs = dict(iterations=(8, 4), encoder=encoder, first_side=20)
    output = optimize_stylize(content, style, progress=lambda done, total: calls.append((done, total)), **kwargs)
    assert output.shape == content.shape and output.dtype == np.uint8
    # Closer to the painting's colours than the content photo is.
    before = palette_distance(image_tensor(content), image_tensor(style))
    after = palette_distance(image_tensor(output), image_tensor(style))
    assert after < 0.85 * before
    # Progress runs over two scales (20 then 40 pixels) and ends at its total.
    assert calls[-1][0] == calls[-1][1] and all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))

    short = dict(kwargs, iterations=(2, 1))
    first = optimize_stylize(content, style, **short)
    assert np.array_equal(optimize_stylize(content, style, **short), first)
    assert not np.array_equal(optimize_stylize(content, style, seed=1, **short), first)


def test_size_and_preserve_color(encoder) -> None:
    content, style = _pictures()
    output = optimize_stylize(content, style, size=20, iterations=(3, 2), encoder=encoder, preserve_color=True)
    assert output.shape == (15, 20, 3)


def test_bad_iterations_are_refused(encoder) -> None:
    content, style = _pictures()
    with pytest.raises(ValueError, match="iterations"):
        optimize_stylize(content, style, iterations=(5,), encoder=encoder)


def test_cli_method_optimize_writes_outputs_and_refuses_sanet_only_options(tmp_path, encoder, capsys) -> None:
    from restore.cli import main
    from restore.io.image import read_image, write_image

    content, style = _pictures()
    write_image(tmp_path / "photo.png", content)
    write_image(tmp_path / "painting.png", style)
    common = ["stylize", str(tmp_path / "photo.png"), "--style", str(tmp_path / "painting.png"), "-o",
              str(tmp_path / "out"), "--method", "optimize", "--quiet"]
    assert main([*common, "--iterations", "2,1", "--size", "24"]) == 0
    assert read_image(tmp_path / "out" / "photo_painting.png").shape == (18, 24, 3)
    assert main([*common, "--mix"]) == 2
    assert "--mix: only for --method sanet" in capsys.readouterr().err
    assert main([*common, "--palette", "network"]) == 2
    assert "--palette: only for --method sanet" in capsys.readouterr().err
    assert main([*common, "--iterations", "0,3"]) == 2
    assert main(["stylize", str(tmp_path / "photo.png"), "--style", str(tmp_path / "painting.png"), "-o",
                 str(tmp_path / "out"), "--iterations", "2,1"]) == 2
