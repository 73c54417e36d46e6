"""Channel + spatial attention: CBAM (Woo et al., ECCV 2018) and BAM (Park et al., BMVC 2018).

CBAM refines in sequence, channel then spatial, and squeezes each with both average and max pooling (its
ablations found the pair better than either alone). BAM computes a channel and a spatial branch in parallel,
adds them into one 3-D map and applies it residually, ``x + x * sigmoid(Mc + Ms)``; its paper places it at the
ends of a backbone's stages (``attention_at="group"`` in RCAN).

Both papers put batch normalisation inside the gates; it is left out here, as SR networks leave it out
everywhere (EDSR, Lim et al. 2017: BN's normalisation of the features costs restoration accuracy), and the rest
of our backbones have none.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def _bottleneck(channels: int, reduction: int) -> nn.Sequential:
    """The shared channel MLP ``C -> C/r -> C`` on pooled (B, C) vectors."""
    if channels // reduction < 1:
        raise ValueError(f"reduction {reduction} leaves no channels in the bottleneck of a {channels}-channel gate")
    return nn.Sequential(nn.Linear(channels, channels // reduction), nn.ReLU(inplace=True),
                         nn.Linear(channels // reduction, channels))


class CBAM(nn.Module):
    """Convolutional block attention module: ``x' = x * Mc(x)``, then ``x' * Ms(x')``.

    Mc: the shared MLP on the average- and the max-pooled vectors, summed, sigmoid. Ms: a k x k conv over the
    channel-wise mean and max maps, sigmoid. Options (the paper's): ``reduction`` 16, ``kernel_size`` 7.
    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        self.mlp = _bottleneck(channels, reduction)
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        channel_logits = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))
        x = x * torch.sigmoid(channel_logits)[:, :, None, None]
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class BAM(nn.Module):
    """Bottleneck attention module: ``x + x * sigmoid(Mc(x) + Ms(x))``.

    Mc: an MLP on the average-pooled vector, (B, C, 1, 1). Ms: 1x1 conv to C/r, two 3x3 convs of dilation d
    (a wide receptive field at little cost), 1x1 conv to one map, (B, 1, H, W). Options (the paper's):
    ``reduction`` 16, ``dilation`` 4. Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 16, dilation: int = 4) -> None:
        super().__init__()
        self.mlp = _bottleneck(channels, reduction)
        hidden = channels // reduction
        self.spatial = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        attention = torch.sigmoid(self.mlp(x.mean(dim=(2, 3)))[:, :, None, None] + self.spatial(x))
        return torch.addcmul(x, x, attention)
