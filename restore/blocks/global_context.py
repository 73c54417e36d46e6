"""Global context attention: GCNet's GC block and its simplified non-local block (Cao et al., ICCVW 2019).

GCNet observed that a non-local block's attention maps are almost the same for every query position, so it
computes ONE map: ``softmax(Wk x)`` over positions pools x into a single context vector (B, C, 1, 1), which a
transform turns into one update broadcast to every position. The simplified non-local block (SNL) transforms
with one 1x1 conv Wv and adds; the GC block replaces Wv with a bottleneck ``C -> C/r -> LayerNorm -> ReLU -> C``
(r = 16 in the paper) and offers two fusions, ``add`` (its default: ``x + t``) and ``scale`` (``x * sigmoid(t)``,
an SE-like gate; add won its ablation).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

FUSIONS = ("add", "scale")


def attention_pool(x: Tensor, mask: nn.Conv2d) -> Tensor:
    """``sum_j softmax_j(mask(x)) x_j``: the query-independent context vector.

    Shape: (B, C, H, W) -> (B, C, 1, 1).
    """
    weights = torch.softmax(mask(x).flatten(2), dim=2)  # (B, 1, HW)
    return torch.bmm(x.flatten(2), weights.transpose(1, 2)).unsqueeze(3)


class SimplifiedNonLocal(nn.Module):
    """``x + Wv(attention_pool(x))`` (GCNet's Fig. 3b). Shape: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mask = nn.Conv2d(channels, 1, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        # Zero as GCNet initialises its last transform layer: the block starts as the identity, so plugging it
        # into a network does not disturb the signal the other layers start from.
        nn.init.zeros_(self.value.weight)
        nn.init.zeros_(self.value.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.value(attention_pool(x, self.mask))


class GlobalContext(nn.Module):
    """GC block: ``x + t`` or ``x * sigmoid(t)``, ``t = transform(attention_pool(x))``.

    Options: ``reduction`` (16), ``fusion`` (add | scale), ``bottleneck`` (True: the GC transform; False: SNL's
    single 1x1 conv, which makes the block an SNL). Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 16, fusion: str = "add", bottleneck: bool = True) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        if bottleneck and channels // reduction < 1:
            raise ValueError(f"reduction {reduction} leaves no channels in the bottleneck of a {channels}-channel block")
        self.fusion = fusion
        self.mask = nn.Conv2d(channels, 1, 1)
        if bottleneck:
            hidden = channels // reduction
            self.transform = nn.Sequential(
                # LayerNorm over the bottleneck eases optimisation of the two-layer transform (GCNet, Sec. 4).
                nn.Conv2d(channels, hidden, 1), nn.LayerNorm([hidden, 1, 1]), nn.ReLU(inplace=True),
                nn.Conv2d(hidden, channels, 1),
            )
        else:
            self.transform = nn.Sequential(nn.Conv2d(channels, channels, 1))
        if fusion == "add":
            # GCNet zero-initialises the add branch's last layer: the block starts as the identity.
            nn.init.zeros_(self.transform[-1].weight)
            nn.init.zeros_(self.transform[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        update = self.transform(attention_pool(x, self.mask))
        if self.fusion == "add":
            return x + update
        return x * torch.sigmoid(update)
