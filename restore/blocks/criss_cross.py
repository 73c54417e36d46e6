"""Criss-cross attention (Huang et al., CCNet, ICCV 2019) with its recurrence.

Each position attends only to the positions in its own row and column: H + W - 1 relations instead of the
non-local block's H x W. Applied R times with shared weights (CCNet's recurrent RCCA, R = 2 by default), every
position reaches every other one through an intermediate, at a cost linear in H + W.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def criss_cross_attention(query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """``sum_j softmax_j(q_i . k_j) v_j`` over j in the row and the column of i, the position itself once.

    The logits are (B, H, W, H + W): column relations then row relations per position. The column block also
    holds each position's relation to itself, which the row block has too; it is masked to -inf there, as in
    CCNet, so H + W - 1 relations count.
    Shape: (B, E, H, W), (B, E, H, W), (B, D, H, W) -> (B, D, H, W).
    """
    height = query.shape[2]
    column = torch.einsum("behw,begw->bhwg", query, key)  # (B, H, W, H): i=(h, w) with (g, w)
    itself = torch.eye(height, dtype=torch.bool, device=query.device)[None, :, None, :]
    column = column.masked_fill(itself, float("-inf"))
    row = torch.einsum("behw,behg->bhwg", query, key)  # (B, H, W, W): i=(h, w) with (h, g)
    weights = torch.softmax(torch.cat([column, row], dim=3), dim=3)
    from_column, from_row = weights[..., :height], weights[..., height:]
    return torch.einsum("bhwg,bdgw->bdhw", from_column, value) + torch.einsum("bhwg,bdhg->bdhw", from_row, value)


class CrissCrossAttention(nn.Module):
    """``x <- x + gamma * criss_cross(q(x), k(x), v(x))``, ``recurrence`` times with the same weights.

    Options (CCNet's): ``reduction`` 8 (the query/key width C/8), ``recurrence`` 2. ``gamma`` starts at 0 as in
    CCNet, so the block starts as the identity. Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 8, recurrence: int = 2) -> None:
        super().__init__()
        inner = max(1, channels // reduction)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.recurrence = recurrence

    def forward(self, x: Tensor) -> Tensor:
        for _ in range(self.recurrence):
            x = x + self.gamma * criss_cross_attention(self.query(x), self.key(x), self.value(x))
        return x
