"""Residual dense block (RDB) of RDN, in the EDSR-PyTorch key layout."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class DenseConv(nn.Module):
    """conv + ReLU whose output is concatenated to its input (dense connectivity).

    Keys: ``conv.0``.
    Shape: (B, C_in, H, W) -> (B, C_in + growth, H, W).
    """

    def __init__(self, in_channels: int, growth: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, growth, kernel_size, padding=(kernel_size - 1) // 2), nn.ReLU()
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat((x, self.conv(x)), dim=1)


class RDB(nn.Module):
    """``x + LFF(dense stack of n_layers convs)(x)``: local feature fusion with a local residual.

    Keys: ``convs.c.conv.0`` (3x3, G0 + c*G -> G) for c < n_layers, ``LFF`` (1x1, G0 + n_layers*G -> G0).
    Shape: (B, G0, H, W) -> (B, G0, H, W).
    """

    def __init__(self, base_channels: int, growth: int, n_layers: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            *[DenseConv(base_channels + c * growth, growth, kernel_size) for c in range(n_layers)]
        )
        self.LFF = nn.Conv2d(base_channels + n_layers * growth, base_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.LFF(self.convs(x)) + x
