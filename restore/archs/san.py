"""SAN (Dai et al., CVPR 2019): second-order attention network.

Layout (official key names, in the official state_dict order): ``gamma``, ``sub_mean``, ``RG.i``
(LSRAG: ``gamma``, ``rcab.b.conv_first.{0,2}``, ``soca.conv_du.{0,2}``, ``conv_last``), ``conv_last``,
``add_mean``, ``non_local`` (``soca.conv_du.{0,2}``, ``non_local.{g.0, W, theta, phi.0}``), ``head.0``,
``tail``.

Forward: head -> non_local -> for each group ``x = RG_i(x) + gamma * x0`` (x0 = the non_local output)
-> the same non_local again -> + head output -> tail.

Parameters kept only so official checkpoints load strictly (they never touch the output, as in the
official code): every ``RG.i.gamma``, the top-level ``conv_last`` and ``non_local.soca``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from restore.archs import register
from restore.archs.layout import StateDict, count_children
from restore.archs.memory import MemoryModel, image_elements, upsampler_elements
from restore.archs.spec import ArchSpec
from restore.blocks.conv import conv2d
from restore.blocks.mean_shift import MeanShift
from restore.blocks.region_nonlocal import RegionNonLocal
from restore.blocks.second_order_attention import SecondOrderChannelAttention
from restore.blocks.upsample import Upsampler


class PlainResidualBlock(nn.Module):
    """conv-ReLU-conv plus identity (official ``RB``). Keys ``conv_first.{0,2}``.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, n_feats: int) -> None:
        super().__init__()
        self.conv_first = nn.Sequential(conv2d(n_feats, n_feats, 3), nn.ReLU(inplace=True), conv2d(n_feats, n_feats, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_first(x) + x


class LocalSourceResidualGroup(nn.Module):
    """LSRAG: residual blocks, SOCA, conv, plus the group input.

    ``gamma`` exists in the official class (and checkpoints) but its forward never uses it.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, n_feats: int, n_resblocks: int, reduction: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))
        self.rcab = nn.ModuleList(PlainResidualBlock(n_feats) for _ in range(n_resblocks))
        self.soca = SecondOrderChannelAttention(n_feats, reduction=reduction)
        self.conv_last = conv2d(n_feats, n_feats, 3)

    def forward(self, x: Tensor) -> Tensor:
        features = x
        for block in self.rcab:
            features = block(features)
        return self.conv_last(self.soca(features)) + x


class SAN(nn.Module):
    """Shape: (B, 3, H, W) in [0, rgb_range] -> (B, 3, scale*H, scale*W), any H, W >= 1.

    Below 4 LR pixels per side the region non-local block pads internally (see ``RegionNonLocal``).
    """

    def __init__(
        self,
        scale: int,
        n_resgroups: int,
        n_resblocks: int,
        n_feats: int,
        reduction: int,
        rgb_range: float,
    ) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))
        self.sub_mean = MeanShift(rgb_range, sign=-1)
        self.RG = nn.ModuleList(
            LocalSourceResidualGroup(n_feats, n_resblocks, reduction) for _ in range(n_resgroups)
        )
        self.conv_last = conv2d(n_feats, n_feats, 3)
        self.add_mean = MeanShift(rgb_range, sign=1)
        self.non_local = RegionNonLocal(n_feats, n_feats // 8, reduction=8)
        self.head = nn.Sequential(conv2d(3, n_feats, 3))
        self.tail = nn.Sequential(Upsampler(scale, n_feats), conv2d(n_feats, 3, 3))

    def forward(self, x: Tensor) -> Tensor:
        shallow = self.head(self.sub_mean(x))
        source = self.non_local(shallow)
        features = source
        for group in self.RG:
            features = group(features) + self.gamma * source
        deep = self.non_local(features)
        return self.add_mean(self.tail(deep + shallow))


def san(
    scale: int,
    n_resgroups: int = 20,
    n_resblocks: int = 10,
    n_feats: int = 64,
    reduction: int = 16,
    rgb_range: float = 255.0,
) -> SAN:
    """SAN at ``scale`` (2, 3, 4); defaults are the released configuration (15.86 M parameters at x4)."""
    return SAN(scale, n_resgroups, n_resblocks, n_feats, reduction, rgb_range)


def _read_layout(state_dict: StateDict) -> dict[str, Any]:
    """n_resgroups, n_resblocks, n_feats and reduction of an official SAN state dict."""
    n_feats = state_dict["head.0.weight"].shape[0]
    return {
        "n_resgroups": count_children(state_dict, "RG."),
        "n_resblocks": count_children(state_dict, "RG.0.rcab."),
        "n_feats": n_feats,
        "reduction": n_feats // state_dict["RG.0.soca.conv_du.0.weight"].shape[0],
    }


def _memory(scale: int, config: Mapping[str, Any], element_size: int) -> MemoryModel:
    # Each quadrant attends from all its positions to its 2x2-pooled positions: (N/4) x (N/16) logits per
    # quadrant, four quadrants run one after another, and the softmax keeps a copy.
    n_feats = int(config["n_feats"])
    return MemoryModel(
        linear=element_size * (8 * n_feats + upsampler_elements(scale, n_feats) + image_elements(scale)),
        quadratic=element_size * 2 / 64,
    )


SPEC = register(ArchSpec(
    name="san",
    title="SAN",
    summary="SAN (Dai et al., CVPR 2019), 20 groups x 10 blocks, 64 features; weights: the authors' SAN_BIX{s}.pt",
    builder=san,
    read_layout=_read_layout,
    fingerprint=re.compile(r"^(RG\.\d+\.|non_local\.)"),
    upsampler_prefixes=("tail.",),
    memory=_memory,
    basicsr_name="RestoreSAN",
    published_key="SAN",
))
