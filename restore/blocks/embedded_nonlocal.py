"""The embedded-Gaussian non-local block (Wang et al., CVPR 2018), as a plug-in.

``y_i = x_i + W sum_j softmax_j(theta(x_i) . phi(x_j)) g(x_j)``: every position attends to every other one,
normalised over the keys j (the usual softmax, unlike RNAN's over the queries in ``nonlocal_attention.py``).
The attention runs through PyTorch's fused ``scaled_dot_product_attention`` (with ``scale=1``: the paper's
embedded Gaussian has no 1/sqrt(d)), whose tiled CPU kernel keeps one tile of the (HW) x (HW) logits at a time,
forward and backward, instead of the whole matrix.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def key_softmax_attention(query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """``softmax(query^T key, over keys) @ value^T`` through the fused kernel, channels-first in and out.

    Shape: (B, E, N), (B, E, N), (B, D, N) -> (B, D, N).
    """
    depth = value.shape[1]
    width = max(query.shape[1], depth)
    # PyTorch's tiled CPU kernel wants one width for queries, keys and values, each row contiguous; otherwise it
    # falls back to the math path, which forms the (N x N) matrix (DANet's E = C/8 against D = C, or the
    # channels-last features of training: 6 GB for one training step of the compact RCAN). Zero channels change
    # no dot product, and the value's padding columns are cut off after.
    query, key, value = (F.pad(t.transpose(1, 2), (0, width - t.shape[1])).contiguous().unsqueeze(1)
                         for t in (query, key, value))
    attended = F.scaled_dot_product_attention(query, key, value, scale=1.0)
    return attended.squeeze(1).transpose(1, 2)[:, :depth]


class EmbeddedNonLocal(nn.Module):
    """``x + W(attention(theta(x), phi(x), g(x)))``, all 1x1 convs, full resolution.

    Options: ``inter_channels`` (the paper's C/2 when None). W starts at zero, as the paper initialises the
    scale of the norm after it, so the block starts as the identity.
    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, inter_channels: int | None = None) -> None:
        super().__init__()
        inter = inter_channels or max(1, channels // 2)
        self.theta = nn.Conv2d(channels, inter, 1)
        self.phi = nn.Conv2d(channels, inter, 1)
        self.g = nn.Conv2d(channels, inter, 1)
        self.W = nn.Conv2d(inter, channels, 1)
        nn.init.zeros_(self.W.weight)
        nn.init.zeros_(self.W.bias)

    def forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        attended = key_softmax_attention(self.theta(x).flatten(2), self.phi(x).flatten(2), self.g(x).flatten(2))
        return x + self.W(attended.reshape(batch, -1, height, width))
