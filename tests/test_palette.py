"""The palette distance (sliced Wasserstein in L*a*b*) and the sRGB -> L*a*b* conversion."""
from __future__ import annotations

import pytest
import torch

from restore.metrics.color import lab_to_rgb, rgb_to_lab
from restore.metrics.palette import palette_distance, sliced_wasserstein


def test_rgb_to_lab_matches_reference_values() -> None:
    # White, black, pure sRGB red and blue (CIE L*a*b*, D65; standard published values).
    colours = torch.tensor([[1.0, 1, 1], [0, 0, 0], [1, 0, 0], [0, 0, 1]]).T.reshape(3, 1, 4)
    lab = rgb_to_lab(colours)[:, 0].T
    expected = torch.tensor([[100.0, 0, 0], [0, 0, 0], [53.24, 80.09, 67.20], [32.30, 79.19, -107.86]])
    assert torch.allclose(lab, expected, atol=0.05)


def test_lab_to_rgb_inverts_rgb_to_lab_including_near_black() -> None:
    generator = torch.Generator().manual_seed(2)
    # Random colours, the gamut's corners, and values on both sides of the linear segments near black.
    rgb = torch.cat([torch.rand(3, 16, 16, generator=generator, dtype=torch.float64).flatten(1),
                     torch.tensor([[0.0, 1, 0.002, 0.0404, 0.0405, 1], [0, 1, 0.001, 0, 0.5, 0], [0, 1, 0, 0.03, 1, 1]],
                                  dtype=torch.float64)], dim=1).reshape(3, 1, -1)
    assert torch.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-9)


def test_palette_distance_is_zero_for_the_same_colours_in_any_layout_and_grows_with_shift() -> None:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 24, 32, generator=generator)
    shuffled = image.flatten(2)[..., torch.randperm(24 * 32, generator=generator)].reshape(1, 3, 32, 24)
    assert palette_distance(image, shuffled) == pytest.approx(0.0, abs=1e-9)
    near = palette_distance(image, (image + 0.05).clamp(0, 1))
    far = palette_distance(image, (image + 0.2).clamp(0, 1))
    assert 0 < near < far


def test_sliced_wasserstein_of_a_translation_is_the_mean_projected_shift() -> None:
    points = torch.randn(500, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    shift = torch.tensor([3.0, 0.0, 0.0], dtype=torch.float64)
    distance = sliced_wasserstein(points, points + shift)
    # Along direction u the shift is |u . shift|; its mean over random unit directions is |shift| / 2.
    assert distance == pytest.approx(1.5, rel=0.15)
    with pytest.raises(ValueError):
        sliced_wasserstein(points, points[:, :2])
