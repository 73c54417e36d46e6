"""Squeeze-and-excitation channel gates: SE (Hu et al., CVPR 2018) and IMDN's contrast-aware CCA.

SE: ``x * excite(W2 relu(W1 squeeze(x)))``. The SE paper's own ablations (its Tables 10-12) vary the reduction
ratio r (2..32; 16 is its default), the squeeze (global average vs global max pooling; average won) and the
excitation (sigmoid vs tanh vs ReLU; sigmoid won). ``excitation="hardsigmoid"`` is the piecewise-linear gate of
MobileNetV3, which replaced SE's sigmoid there to save its exp on mobile CPUs.

CCA (Hui et al., IMDN, ACM MM 2019) is the same gate with a "contrast" squeeze: each channel's standard
deviation plus its mean, which IMDN argues suits low-level vision better than the mean alone.

Keys: ``conv_du.0`` (1x1, C -> C/r) and ``conv_du.2`` (1x1, C/r -> C), RCAN's ``CALayer`` layout, so RCAN's
official checkpoints load into an RCAN built with ``attention="se"`` unchanged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SQUEEZES = ("avg", "max", "contrast")
EXCITATIONS = {"sigmoid": torch.sigmoid, "hardsigmoid": F.hardsigmoid}


def squeeze_channels(x: Tensor, squeeze: str) -> Tensor:
    """One number per channel: the mean, the max, or (IMDN's contrast) the standard deviation plus the mean.

    Shape: (B, C, H, W) -> (B, C).
    """
    if squeeze == "avg":
        return x.mean(dim=(2, 3))
    if squeeze == "max":
        return x.amax(dim=(2, 3))
    mean = x.mean(dim=(2, 3), keepdim=True)
    variance = (x - mean).square().mean(dim=(2, 3))
    # IMDN takes variance ** 0.5, whose gradient is infinite on a constant channel (0 * inf = NaN in backward);
    # the clamp keeps the forward identical wherever the variance is not vanishingly small and the gradient finite.
    return variance.clamp_min(1e-12).sqrt() + mean.flatten(1)


class SqueezeExcitation(nn.Module):
    """``x * excite(W2 relu(W1 squeeze(x)))``; with the defaults, exactly RCAN's ``CALayer``.

    Options: ``reduction`` (SE: 16), ``squeeze`` (avg | max | contrast), ``excitation`` (sigmoid | hardsigmoid).
    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 16, squeeze: str = "avg", excitation: str = "sigmoid") -> None:
        super().__init__()
        if channels // reduction < 1:
            raise ValueError(f"reduction {reduction} leaves no channels in the bottleneck of a {channels}-channel gate")
        if squeeze not in SQUEEZES:
            raise ValueError(f"squeeze must be one of {', '.join(SQUEEZES)}, got {squeeze!r}")
        if excitation not in EXCITATIONS:
            raise ValueError(f"excitation must be one of {', '.join(EXCITATIONS)}, got {excitation!r}")
        self.squeeze, self.excitation = squeeze, excitation
        # The activation modules only name the layout (index 1 and 3, as in CALayer); ``gate`` applies the maths.
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid() if excitation == "sigmoid" else nn.Hardsigmoid(),
        )

    def gate(self, x: Tensor) -> Tensor:
        """The per-channel weights, without applying them. Shape: (B, C, H, W) -> (B, C, 1, 1)."""
        reduce, _, expand, _ = self.conv_du
        # As in CALayer: on the pooled (B, C) vector the 1x1 convs are linears, which skip the conv set-up.
        hidden = torch.relu(F.linear(squeeze_channels(x, self.squeeze), reduce.weight.flatten(1), reduce.bias))
        return EXCITATIONS[self.excitation](F.linear(hidden, expand.weight.flatten(1), expand.bias))[:, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


def contrast_channel_attention(channels: int, reduction: int = 16) -> SqueezeExcitation:
    """IMDN's CCA: the SE gate on each channel's standard deviation + mean (IMDN's reduction: 16)."""
    return SqueezeExcitation(channels, reduction, squeeze="contrast")
