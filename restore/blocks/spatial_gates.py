"""Spatial gates from efficient SR: PAN's pixel attention and RFDN's enhanced spatial attention (ESA).

PA (Zhao et al., PAN, ECCVW 2020): ``x * sigmoid(conv1x1(x))``, a gate per pixel AND channel at the cost of one
1x1 conv, which PAN found the best attention for its tiny networks.

ESA (Liu et al., RFDN, ECCVW 2020; kept in RLFN, the NTIRE 2022 efficiency winner): a spatial mask computed at
a fraction of the resolution -- reduce channels to C/4, a strided conv and a 7x7/3 max-pool shrink the map, a
few 3x3 convs see a wide region cheaply, bilinear upsampling brings the mask back, and a skip from the reduced
full-resolution features keeps detail: ``x * sigmoid(conv4(up(...) + conv_f(conv1(x))))``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PixelAttention(nn.Module):
    """``x * sigmoid(conv1x1(x))``. Shape: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.conv(x))


class EnhancedSpatialAttention(nn.Module):
    """RFDN's ESA. Options: ``reduction`` (4: the mask branch works on C/4 channels, RFDN's ``n_feats // 4``).

    Shape: (B, C, H, W) -> (B, C, H, W), any H, W >= 3.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        inner = max(1, channels // reduction)
        self.conv1 = nn.Conv2d(channels, inner, 1)
        self.conv_f = nn.Conv2d(inner, inner, 1)
        self.conv2 = nn.Conv2d(inner, inner, 3, stride=2)
        self.conv_max = nn.Conv2d(inner, inner, 3, padding=1)
        self.conv3 = nn.Conv2d(inner, inner, 3, padding=1)
        self.conv3_ = nn.Conv2d(inner, inner, 3, padding=1)
        self.conv4 = nn.Conv2d(inner, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        reduced = self.conv1(x)
        shrunk = self.conv2(reduced)
        # RFDN pools 7x7 with stride 3, which needs a 7-pixel map (a 15-pixel input); a smaller map (a small patch,
        # the edge tile of a tiled upscale) pools over all of itself instead of failing.
        window = (min(7, shrunk.shape[2]), min(7, shrunk.shape[3]))
        pooled = F.max_pool2d(shrunk, kernel_size=window, stride=3)
        mask = self.conv3_(torch.relu(self.conv3(torch.relu(self.conv_max(pooled)))))
        mask = F.interpolate(mask, size=x.shape[2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(mask + self.conv_f(reduced)))
