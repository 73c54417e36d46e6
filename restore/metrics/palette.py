"""Palette distance: the sliced Wasserstein distance between two images' colour distributions in L*a*b*.

Mean colour alone misses a palette (a painting of deep blue and bright yellow averages to grey); the whole
distribution of pixel colours does not. Its Wasserstein distance is costly in 3-D, but along any one
direction it is the distance between sorted projections (quantiles), so it is averaged over fixed random
directions (Rabin et al. 2011). The unit is L*a*b*'s (about one just-noticeable difference), so numbers
read as "how far the palettes are apart".
"""
from __future__ import annotations

import torch
from torch import Tensor

from restore.metrics.color import rgb_to_lab

__all__ = ["palette_distance", "sliced_wasserstein"]

DIRECTIONS = 64
QUANTILES = 256


def _directions(count: int, seed: int, dtype: torch.dtype) -> Tensor:
    # Fixed directions make the distance a deterministic function of the two images.
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(count, 3, generator=generator, dtype=torch.float64)
    return (directions / directions.norm(dim=1, keepdim=True)).to(dtype)


def sliced_wasserstein(points_a: Tensor, points_b: Tensor, directions: int = DIRECTIONS,
                       quantiles: int = QUANTILES, seed: int = 0) -> float:
    """Mean over ``directions`` fixed unit directions of the 2-Wasserstein distance between the projected
    point sets, each compared at ``quantiles`` evenly spaced quantiles (the sets may differ in size).

    Shape: (N, 3), (M, 3) -> float.
    """
    if points_a.dim() != 2 or points_b.dim() != 2 or points_a.shape[1] != points_b.shape[1]:
        raise ValueError(f"expected (N, D) and (M, D) point sets, got {tuple(points_a.shape)} and {tuple(points_b.shape)}")
    dtype = torch.float64
    axes = _directions(directions, seed, dtype).to(points_a.device)
    levels = torch.linspace(0, 1, quantiles, dtype=dtype, device=points_a.device)
    a = torch.quantile(points_a.to(dtype) @ axes.T, levels, dim=0)
    b = torch.quantile(points_b.to(dtype) @ axes.T, levels, dim=0)
    return float(((a - b) ** 2).mean(dim=0).sqrt().mean())


def palette_distance(image_a: Tensor, image_b: Tensor, max_points: int = 65536) -> float:
    """Sliced Wasserstein distance between the L*a*b* colours of two RGB images in [0, 1] (any sizes).

    Images with more than ``max_points`` pixels are subsampled on a regular stride (quantiles barely move).
    Shape: (1, 3, H, W) or (3, H, W), (1, 3, H', W') or (3, H', W') -> float.
    """
    def colours(image: Tensor) -> Tensor:
        lab = rgb_to_lab(image.reshape(3, *image.shape[-2:]))
        points = lab.flatten(1).T
        stride = max(1, -(-points.shape[0] // max_points))
        return points[::stride]

    return sliced_wasserstein(colours(image_a), colours(image_b))
