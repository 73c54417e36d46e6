"""Sub-pixel (PixelShuffle) upsampler for x2, x3 and x4 (and any power of two)."""
from __future__ import annotations

import math

from torch import nn

from restore.blocks.conv import conv2d


class Upsampler(nn.Sequential):
    """conv(C -> r^2 C) + PixelShuffle(r), once for x3, log2(s) times for powers of two.

    Keys: ``0`` (first conv), ``2`` (second conv at x4) -- the official layout.
    Shape: (B, C, H, W) -> (B, C, s*H, s*W).
    """

    def __init__(self, scale: int, n_feats: int, bias: bool = True) -> None:
        layers: list[nn.Module] = []
        if scale >= 1 and scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [conv2d(n_feats, 4 * n_feats, 3, bias), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [conv2d(n_feats, 9 * n_feats, 3, bias), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"unsupported upscaling factor {scale}: use 2, 3, 4 (or another power of two)")
        super().__init__(*layers)
