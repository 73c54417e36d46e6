"""RDN (Zhang et al., CVPR 2018): residual dense network, in the EDSR-PyTorch ``src/model/rdn.py`` layout.

The authors distribute Torch7 ``.t7`` weights; a PyTorch RDN checkpoint in this layout is a conversion
or a third-party training.
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
from restore.blocks.dense import RDB


def _conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2)


def _upnet(scale: int, G0: int, G: int, kernel_size: int) -> nn.Sequential:
    """Keys ``0``, ``2`` (x2/x3) or ``0``, ``2``, ``4`` (x4): conv + PixelShuffle stages, then conv G -> 3."""
    if scale in (2, 3):
        return nn.Sequential(
            _conv(G0, G * scale * scale, kernel_size), nn.PixelShuffle(scale), _conv(G, 3, kernel_size)
        )
    if scale == 4:
        return nn.Sequential(
            _conv(G0, G * 4, kernel_size),
            nn.PixelShuffle(2),
            _conv(G, G * 4, kernel_size),
            nn.PixelShuffle(2),
            _conv(G, 3, kernel_size),
        )
    raise ValueError(f"RDN supports scale 2, 3 or 4, not {scale}")


class RDN(nn.Module):
    """Residual dense network.

    Keys: ``SFENet1``, ``SFENet2``, ``RDBs.d`` (d < D), ``GFF.0`` (1x1, D*G0 -> G0), ``GFF.1``, ``UPNet.*``.
    No mean shift: input in [0, rgb_range] is used as-is and the output is not clamped. The global
    residual adds the ``SFENet1`` output (not ``SFENet2``'s), as upstream.

    Shape: (B, 3, H, W) -> (B, 3, scale*H, scale*W).
    """

    def __init__(self, scale: int, G0: int, D: int, C: int, G: int, kernel_size: int) -> None:
        super().__init__()
        self.scale = scale
        self.SFENet1 = _conv(3, G0, kernel_size)
        self.SFENet2 = _conv(G0, G0, kernel_size)
        # Upstream builds the RDBs with their default 3x3 kernel whatever RDNkSize says; kept for weight parity.
        self.RDBs = nn.ModuleList([RDB(G0, G, C) for _ in range(D)])
        self.GFF = nn.Sequential(nn.Conv2d(D * G0, G0, 1), _conv(G0, G0, kernel_size))
        self.UPNet = _upnet(scale, G0, G, kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        shallow = self.SFENet1(x)
        features = self.SFENet2(shallow)
        block_outputs = []
        for block in self.RDBs:
            features = block(features)
            block_outputs.append(features)
        fused = self.GFF(torch.cat(block_outputs, dim=1)) + shallow
        return self.UPNet(fused)


def rdn(scale: int, G0: int = 64, D: int = 16, C: int = 8, G: int = 64, kernel_size: int = 3) -> RDN:
    """Build RDN; the defaults are the paper's configuration B (D=16 blocks of C=8 convs, growth G=64)."""
    return RDN(scale, G0, D, C, G, kernel_size)


def _read_layout(state_dict: StateDict) -> dict[str, Any]:
    """G0, D, C, G and kernel_size of an RDN state dict in the EDSR-PyTorch layout."""
    shallow = state_dict["SFENet1.weight"]
    return {
        "G0": shallow.shape[0],
        "D": count_children(state_dict, "RDBs."),
        "C": count_children(state_dict, "RDBs.0.convs."),
        "G": state_dict["RDBs.0.convs.0.conv.0.weight"].shape[0],
        "kernel_size": shallow.shape[-1],
    }


def _memory(scale: int, config: Mapping[str, Any], element_size: int) -> MemoryModel:
    g0, depth, convs, growth = config["G0"], config["D"], config["C"], config["G"]
    body = depth * g0 + g0 + convs * growth + 2 * g0  # every block's output is kept for global fusion
    return MemoryModel(linear=element_size * (body + upsampler_elements(scale, g0) + image_elements(scale)))


SPEC = register(ArchSpec(
    name="rdn",
    title="RDN",
    summary="RDN (Zhang et al., CVPR 2018), D=16, C=8, G=64; weights: a PyTorch conversion of the authors' RDN_BIX{s}",
    builder=rdn,
    read_layout=_read_layout,
    fingerprint=re.compile(r"^SFENet1\.weight$"),
    upsampler_prefixes=("UPNet.",),
    memory=_memory,
    basicsr_name="RestoreRDN",
    published_key="RDN",
))
