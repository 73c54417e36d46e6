"""MeanShift: the fixed 1x1 colour conv that subtracts (or adds back) the dataset mean."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class MeanShift(nn.Conv2d):
    """``y = x / std + sign * rgb_range * mean / std`` per channel, as a 1x1 conv.

    Kept as a conv with ordinary parameters (``weight`` [3,3,1,1], ``bias`` [3]) because the official
    checkpoints store them; load their values from the checkpoint rather than trusting the defaults.
    Unlike the official code (whose ``self.requires_grad = False`` froze nothing), the parameters are
    really frozen here, so our own training never moves them.

    Shape: (B, 3, H, W) -> (B, 3, H, W).
    """

    def __init__(
        self,
        rgb_range: float = 255.0,
        rgb_mean: Sequence[float] = DIV2K_RGB_MEAN,
        rgb_std: Sequence[float] = (1.0, 1.0, 1.0),
        sign: int = -1,
    ) -> None:
        super().__init__(3, 3, kernel_size=1)
        std = torch.tensor(rgb_std, dtype=torch.float32)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1) / std.view(3, 1, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(rgb_mean, dtype=torch.float32) / std)
        self.weight.requires_grad_(False)
        self.bias.requires_grad_(False)
