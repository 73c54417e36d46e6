"""MATLAB imresize: bit-exact against every published bicubic LR file in ../shared."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from restore.io.image import read_image
from restore.metrics.imresize import bicubic_degrade, imresize, modcrop

LR_FILE_COUNT = 157  # Set5 x2/x3/x4 (15) + Set14 x2/x3/x4 (42) + BSD100 x4 (100)


def _chw(path: Path) -> torch.Tensor:
    return torch.from_numpy(read_image(path)).permute(2, 0, 1)


def _lr_cases(datasets_dir: Path) -> list[tuple[Path, Path, int]]:
    """(hr_path, lr_path, scale) for every LR file of Set5, Set14 and BSD100."""
    cases = []
    for lr_path in sorted(datasets_dir.glob("*/LR_bicubic/X*/*.png")):
        scale = int(lr_path.parent.name[1:])
        stem = lr_path.stem.removesuffix(f"x{scale}")
        cases.append((lr_path.parents[2] / "HR" / f"{stem}.png", lr_path, scale))
    return cases


def test_all_published_lr_files_bit_exact(datasets_dir: Path) -> None:
    cases = _lr_cases(datasets_dir)
    assert len(cases) == LR_FILE_COUNT
    # Same-sized crops are resized as one batch: faster, and it exercises the batched path.
    groups: dict[tuple, list[tuple[torch.Tensor, np.ndarray, Path]]] = defaultdict(list)
    for hr_path, lr_path, scale in cases:
        hr = modcrop(_chw(hr_path), scale)
        groups[(scale, tuple(hr.shape))].append((hr, read_image(lr_path), lr_path))
    mismatched = []
    for (scale, _), members in groups.items():
        lr_batch = bicubic_degrade(torch.stack([hr for hr, _, _ in members]), scale)
        for produced, (_, expected, lr_path) in zip(lr_batch, members):
            if not np.array_equal(produced.permute(1, 2, 0).numpy(), expected):
                mismatched.append(lr_path.name)
    assert not mismatched


def test_rcan_lrbi_files_bit_exact(reference_dir: Path) -> None:
    compared = 0
    for hr_path in sorted((reference_dir / "rcan_set5" / "HR").glob("x*/*_HR_x*.png")):
        scale = int(hr_path.parent.name[1:])
        lr_path = reference_dir / "rcan_set5" / "LRBI" / f"x{scale}" / hr_path.name.replace("_HR_", "_LRBI_")
        produced = bicubic_degrade(_chw(hr_path), scale).permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(produced, read_image(lr_path), err_msg=lr_path.name)
        compared += 1
    assert compared == 15


def test_greyscale_hr_keeps_one_channel_like_published_bridge(datasets_dir: Path) -> None:
    hr = _chw(datasets_dir / "Set14" / "HR" / "bridge.png")
    assert hr.shape[0] == 1
    lr = bicubic_degrade(hr, 4)
    expected = read_image(datasets_dir / "Set14" / "LR_bicubic" / "X4" / "bridgex4.png")
    np.testing.assert_array_equal(lr.permute(1, 2, 0).numpy(), expected)
    # The papers' scripts repeat grey to RGB first; that gives three copies of the same channel.
    repeated = bicubic_degrade(hr.expand(3, -1, -1), 4)
    assert torch.equal(repeated, lr.expand(3, -1, -1))


def test_height_is_resized_first_for_equal_factors() -> None:
    # With uint8 rounding between passes the order is observable; MATLAB does height first.
    image = torch.randint(0, 256, (2, 3, 36, 40), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    both = imresize(image, 0.5)
    # A factor of 1 is the identity for this kernel, so these are single-axis passes.
    height_first = imresize(imresize(image, size=(18, 40)), size=(18, 20))
    width_first = imresize(imresize(image, size=(36, 20)), size=(18, 20))
    assert torch.equal(both, height_first)
    assert not torch.equal(both, width_first)


def test_float_input_is_not_rounded_and_tracks_uint8() -> None:
    image = torch.randint(0, 256, (1, 3, 24, 20), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    resized = imresize(image.float(), 1 / 3)
    assert resized.dtype == torch.float32 and resized.shape == (1, 3, 8, 7)
    assert (resized != resized.round()).any()
    assert (resized - imresize(image, 1 / 3).float()).abs().max() <= 1.0


def test_upscale_shapes_and_unbatched_input() -> None:
    image = torch.randint(0, 256, (3, 10, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    assert imresize(image, 4).shape == (3, 40, 28)
    assert imresize(image, size=(15, 30)).shape == (3, 15, 30)
    assert torch.equal(imresize(image, 3), imresize(image.unsqueeze(0), 3).squeeze(0))


def test_constant_image_stays_constant() -> None:
    image = torch.full((1, 1, 9, 13), 77, dtype=torch.uint8)
    assert torch.equal(imresize(image, 1 / 3), torch.full((1, 1, 3, 5), 77, dtype=torch.uint8))
    assert torch.equal(imresize(image, 2), torch.full((1, 1, 18, 26), 77, dtype=torch.uint8))


def test_modcrop() -> None:
    assert modcrop(torch.zeros(2, 3, 321, 481), 4).shape == (2, 3, 320, 480)
    assert modcrop(torch.zeros(3, 255, 256), 3).shape == (3, 255, 255)


@pytest.mark.parametrize(
    "kwargs, error",
    [({}, ValueError), ({"scale": 2, "size": (4, 4)}, ValueError), ({"scale": -1.0}, ValueError)],
)
def test_bad_arguments(kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        imresize(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), **kwargs)


def test_integer_dtypes_other_than_uint8_are_refused() -> None:
    with pytest.raises(TypeError):
        imresize(torch.zeros(1, 3, 8, 8, dtype=torch.int32), 0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(datasets_dir: Path) -> None:
    hr = _chw(datasets_dir / "Set5" / "HR" / "butterfly.png").unsqueeze(0)
    for scale in (2, 3, 4):
        assert torch.equal(bicubic_degrade(hr.cuda(), scale).cpu(), bicubic_degrade(hr, scale))
        lr = bicubic_degrade(hr, scale)
        assert torch.equal(imresize(lr.cuda(), scale).cpu(), imresize(lr, scale))
