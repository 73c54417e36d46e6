"""RCAN (Zhang et al., ECCV 2018): residual-in-residual groups of channel-attention blocks.

Key layout and forward follow yulunzhang/RCAN ``RCAN_TestCode/code/model/rcan.py`` so the official
``RCAN_BIX{2,3,4}.pt`` state dicts load with strict key matching.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from restore.archs import register_arch
from restore.blocks.channel_attention import RCAB
from restore.blocks.conv import conv2d
from restore.blocks.mean_shift import DIV2K_RGB_MEAN, MeanShift
from restore.blocks.upsample import Upsampler


def _add_skip(fresh: Tensor, skip: Tensor) -> Tensor:
    """``fresh + skip``, written into ``fresh`` when autograd is off (it is then a conv output nobody else holds).

    Shape: (B, C, H, W), (B, C, H, W) -> (B, C, H, W).
    """
    if torch.is_grad_enabled():
        return fresh + skip
    return fresh.add_(skip)


class ResidualGroup(nn.Module):
    """``x + conv(RCAB^n(x))``.

    Keys: ``body.b`` (RCABs, b < n_resblocks), ``body.<n_resblocks>`` (the group conv).
    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, n_feats: int, kernel_size: int, reduction: int, n_resblocks: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *[RCAB(n_feats, kernel_size, reduction) for _ in range(n_resblocks)],
            conv2d(n_feats, n_feats, kernel_size),
        )

    def forward(self, x: Tensor) -> Tensor:
        return _add_skip(self.body(x), x)


class RCAN(nn.Module):
    """Residual channel attention network.

    Keys: ``sub_mean``, ``add_mean``, ``head.0``, ``body.g`` (groups), ``body.<n_resgroups>`` (trunk conv),
    ``tail.0.*`` (upsampler convs), ``tail.1`` (final conv).
    Input and output are RGB in [0, rgb_range]; the output is not clamped.
    On CPU the features run in channels-last layout (oneDNN's native one; NCHW would cost a reorder around
    every conv); the returned image is contiguous NCHW either way.

    Shape: (B, 3, H, W) -> (B, 3, scale*H, scale*W).
    """

    def __init__(
        self,
        scale: int,
        n_resgroups: int,
        n_resblocks: int,
        n_feats: int,
        reduction: int,
        rgb_range: float,
        rgb_mean: Sequence[float],
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.scale = scale
        # Attribute order fixes state_dict order: the official class registers add_mean right after sub_mean.
        self.sub_mean = MeanShift(rgb_range, rgb_mean, sign=-1)
        self.add_mean = MeanShift(rgb_range, rgb_mean, sign=1)
        self.head = nn.Sequential(conv2d(3, n_feats, kernel_size))
        self.body = nn.Sequential(
            *[ResidualGroup(n_feats, kernel_size, reduction, n_resblocks) for _ in range(n_resgroups)],
            conv2d(n_feats, n_feats, kernel_size),
        )
        self.tail = nn.Sequential(Upsampler(scale, n_feats), conv2d(n_feats, 3, kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        features = self.head(self.sub_mean(x))
        features = _add_skip(self.body(features), features)
        # Back to NCHW before the last 1x1 colour conv: PyTorch runs a 3-channel 1x1 conv through its generic
        # kernel, which measured about 6x slower on a channels-last 256x256 map than on a contiguous one.
        return self.add_mean(self.tail(features).contiguous())


@register_arch("rcan")
def rcan(
    scale: int,
    n_resgroups: int = 10,
    n_resblocks: int = 20,
    n_feats: int = 64,
    reduction: int = 16,
    rgb_range: float = 255,
    rgb_mean: Sequence[float] = DIV2K_RGB_MEAN,
    res_scale: float = 1,
    kernel_size: int = 3,
) -> RCAN:
    """Build RCAN; the defaults are the published configuration (10 groups x 20 RCABs, 64 features).

    ``res_scale`` is accepted because the official option exists, but it has no effect, exactly as in the
    official code (RCAB stores it and never multiplies by it).
    """
    del res_scale  # no effect by design, see the docstring
    return RCAN(scale, n_resgroups, n_resblocks, n_feats, reduction, rgb_range, rgb_mean, kernel_size)
