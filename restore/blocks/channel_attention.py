"""RCAN channel attention (CALayer) and the residual channel attention block (RCAB)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.blocks.conv import conv2d


class CALayer(nn.Module):
    """Squeeze-and-excitation gate: ``x * sigmoid(W2 relu(W1 avgpool(x)))``.

    Keys: ``conv_du.0`` (1x1, C -> C/reduction) and ``conv_du.2`` (1x1, C/reduction -> C), the official layout.
    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if channels // reduction < 1:
            raise ValueError(f"reduction {reduction} leaves no channels in the bottleneck of a {channels}-channel gate")
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )

    def gate(self, x: Tensor) -> Tensor:
        """The per-channel weights in (0, 1), without applying them.

        Shape: (B, C, H, W) -> (B, C, 1, 1).
        """
        squeeze, _, excite, _ = self.conv_du
        # The 1x1 convs act on a 1x1 map, i.e. they are matrix-vector products: as linears on the pooled
        # (B, C) vector they skip the conv dispatch and im2col set-up, which cost more than the product.
        pooled = x.mean(dim=(2, 3))
        hidden = torch.relu(F.linear(pooled, squeeze.weight.flatten(1), squeeze.bias))
        return torch.sigmoid(F.linear(hidden, excite.weight.flatten(1), excite.bias))[:, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class RCAB(nn.Module):
    """Residual channel attention block: ``x + CA(conv(relu(conv(x))))``.

    Keys: ``body.0`` and ``body.2`` (3x3 convs), ``body.3`` (the :class:`CALayer`, or the ``attention`` module
    given instead: any shape-preserving block, e.g. from ``restore.blocks.create_attention``).
    ``res_scale`` is accepted for signature parity with the official RCAB, which stores it but never
    applies it in its forward; it has no effect here either, so official weights reproduce exactly.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(
        self,
        n_feats: int,
        kernel_size: int = 3,
        reduction: int = 16,
        res_scale: float = 1.0,
        attention: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv2d(n_feats, n_feats, kernel_size),
            nn.ReLU(inplace=True),
            conv2d(n_feats, n_feats, kernel_size),
            CALayer(n_feats, reduction) if attention is None else attention,
        )
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        first_conv, relu, second_conv, attention = self.body
        features = second_conv(relu(first_conv(x)))
        if not hasattr(attention, "gate"):
            # Not a pure channel gate (CBAM, non-local, ...): the block's own output is the branch.
            return x + attention(features)
        gate = attention.gate(features)
        # x + features * gate in one pass instead of two: in a CPU profile (2 cores, LR 48) each memory-bound
        # pass over the feature map cost about a quarter of one of the block's convs.
        if torch.is_grad_enabled():
            return torch.addcmul(x, features, gate)
        # Without autograd nothing else holds ``features`` (a fresh conv output), so the sum can overwrite it
        # instead of allocating another feature map.
        return torch.addcmul(x, features, gate, out=features)
