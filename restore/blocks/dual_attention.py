"""Dual attention (Fu et al., DANet, CVPR 2019): position attention and channel attention in parallel.

Position attention (PAM) is a non-local block over positions (query/key width C/8, value width C); channel
attention (CAM) relates channels by the Gram matrix of the features, C x C whatever the image size. DANet
wraps each branch in its own 3x3 conv stems and sums the two outputs; as a plug-in the stems would be extra
convs, not attention, so here both branches read the input and their updates are summed:
``x + gamma_p * PAM(x) + gamma_c * CAM(x)``, gammas starting at 0 as in DANet (the block starts as the identity).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from restore.blocks.embedded_nonlocal import key_softmax_attention


def channel_attention_update(x: Tensor) -> Tensor:
    """DANet's CAM before its gamma: ``softmax(max(G) - G) @ X``, G = X X^T the channel Gram matrix.

    Subtracting each row's max from the row (DANet's ``energy_new``) turns the most similar channel into the
    least attended one, which DANet found to work better than the Gram logits themselves.
    Shape: (B, C, H, W) -> (B, C, H, W).
    """
    flat = x.flatten(2)
    gram = torch.bmm(flat, flat.transpose(1, 2))
    weights = torch.softmax(gram.amax(dim=2, keepdim=True) - gram, dim=2)
    return torch.bmm(weights, flat).reshape(x.shape)


class DualAttention(nn.Module):
    """``x + gamma_p * PAM(x) + gamma_c * CAM(x)``.

    Options (DANet's): ``reduction`` 8 (the query/key width C/8 of the position branch).
    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        inner = max(1, channels // reduction)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma_position = nn.Parameter(torch.zeros(1))
        self.gamma_channel = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        position = key_softmax_attention(self.query(x).flatten(2), self.key(x).flatten(2), self.value(x).flatten(2))
        return x + self.gamma_position * position.reshape(x.shape) + self.gamma_channel * channel_attention_update(x)
