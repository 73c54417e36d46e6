"""RNAN's residual attention module: a trunk branch gated by a down-up mask branch.

Official names (RNAN ``common.py``): ``ResAttModuleDownUpPlus`` / ``NLResAttModuleDownUpPlus`` (here
``ResidualAttentionModule`` with ``non_local``), ``TrunkBranch``, ``MaskBranchDownUp`` /
``NLMaskBranchDownUp`` (here ``MaskBranch``).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from restore.blocks.conv import ResBlock
from restore.blocks.nonlocal_attention import NonLocalBlock
from restore.blocks.traceable import use_traceable_paths


class TrunkBranch(nn.Module):
    """Two ResBlocks. Keys: ``body.0``, ``body.1``.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, n_feats: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ResBlock(n_feats), ResBlock(n_feats))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class MaskBranch(nn.Module):
    """Soft mask in (0, 1): [non-local +] ResBlock, stride-2 conv, 2 ResBlocks, x2 transposed conv, skip,
    ResBlock, 1x1 conv, sigmoid.

    Keys: ``MB_RB1`` (``0`` = NonLocalBlock and ``1`` = ResBlock when ``non_local``, else ``0`` = ResBlock),
    ``MB_Down.0``, ``MB_RB2.{0,1}``, ``MB_Up.0`` (ConvTranspose2d k6 s2 p2), ``MB_RB3.0``, ``MB_1x1conv.0``.

    The stride-2 conv gives ceil(H/2) and the transposed conv exactly twice that, so the official code
    fails on odd sizes. Here an odd side is replicate-padded by one pixel at the bottom/right before the
    down-up path and the upsampled map cropped back; even sizes take the official path unchanged.

    Shape: (B, C, H, W) -> (B, C, H, W), any H, W >= 1.
    """

    def __init__(self, n_feats: int, non_local: bool = False, nonlocal_band: int | None = None) -> None:
        super().__init__()
        first: list[nn.Module] = [NonLocalBlock(n_feats, n_feats // 2, band=nonlocal_band)] if non_local else []
        self.MB_RB1 = nn.Sequential(*first, ResBlock(n_feats))
        self.MB_Down = nn.Sequential(nn.Conv2d(n_feats, n_feats, 3, stride=2, padding=1))
        self.MB_RB2 = nn.Sequential(ResBlock(n_feats), ResBlock(n_feats))
        self.MB_Up = nn.Sequential(nn.ConvTranspose2d(n_feats, n_feats, 6, stride=2, padding=2))
        self.MB_RB3 = nn.Sequential(ResBlock(n_feats))
        self.MB_1x1conv = nn.Sequential(nn.Conv2d(n_feats, n_feats, 1))
        self.MB_sigmoid = nn.Sequential(nn.Sigmoid())

    def _down_up(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        pad_bottom, pad_right = height % 2, width % 2
        if use_traceable_paths():
            # No branch on the size for an exported graph: a zero pad and a full crop change nothing.
            padded = F.pad(x, (0, pad_right, 0, pad_bottom), mode="replicate")
            return self.MB_Up(self.MB_RB2(self.MB_Down(padded)))[:, :, :height, :width]
        if pad_bottom or pad_right:
            x = F.pad(x, (0, pad_right, 0, pad_bottom), mode="replicate")
        up = self.MB_Up(self.MB_RB2(self.MB_Down(x)))
        return up[:, :, :height, :width] if pad_bottom or pad_right else up

    def forward(self, x: Tensor) -> Tensor:
        features = self.MB_RB1(x)
        refined = self.MB_RB3(features + self._down_up(features))
        return self.MB_sigmoid(self.MB_1x1conv(refined))


class ResidualAttentionModule(nn.Module):
    """``tail(RB1(x) + trunk(RB1(x)) * mask(RB1(x)))``.

    Keys: ``RA_RB1.0``, ``RA_TB.0.body.{0,1}``, ``RA_MB.0.*`` (see ``MaskBranch``), ``RA_tail.{0,1}``.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, n_feats: int, non_local: bool = False, nonlocal_band: int | None = None) -> None:
        super().__init__()
        self.RA_RB1 = nn.Sequential(ResBlock(n_feats))
        self.RA_TB = nn.Sequential(TrunkBranch(n_feats))
        self.RA_MB = nn.Sequential(MaskBranch(n_feats, non_local=non_local, nonlocal_band=nonlocal_band))
        self.RA_tail = nn.Sequential(ResBlock(n_feats), ResBlock(n_feats))

    def forward(self, x: Tensor) -> Tensor:
        features = self.RA_RB1(x)
        return self.RA_tail(self.RA_TB(features) * self.RA_MB(features) + features)
