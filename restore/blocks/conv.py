"""Plain convolutions and the EDSR-style residual block."""
from __future__ import annotations

from torch import Tensor, nn


def conv2d(in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True) -> nn.Conv2d:
    """'Same' padding convolution (the official ``default_conv``)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)


class ResBlock(nn.Module):
    """conv-ReLU-conv plus identity: ``x + res_scale * body(x)``.

    Keys: ``body.0`` and ``body.2`` (the official layout).
    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, n_feats: int, kernel_size: int = 3, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv2d(n_feats, n_feats, kernel_size), nn.ReLU(inplace=True), conv2d(n_feats, n_feats, kernel_size)
        )
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        res = self.body(x)
        if self.res_scale != 1:
            res = res * self.res_scale
        return res + x
