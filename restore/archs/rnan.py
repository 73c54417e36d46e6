"""RNAN (Zhang et al., ICLR 2019): residual non-local attention network, SR variant.

Layout (official key names): ``sub_mean``, ``add_mean``, ``head.0``, ``body_nl_low.0`` (a group whose
attention module has a non-local mask branch), ``body.k`` (k < n_resgroups - 2, plain groups) and the
trunk conv ``body.<n_resgroups - 2>``, ``body_nl_high.0``, ``tail`` (Upsampler + conv). A group is
``body.0`` = attention module, ``body.1`` = conv, with no skip of its own; only the long skip from the
head exists.

The official forward only accepts even LR sizes; here any size works (see ``MaskBranch``), and even
sizes give exactly the official computation.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from restore.archs import register
from restore.archs.layout import StateDict, count_children
from restore.archs.memory import MemoryModel, image_elements, upsampler_elements
from restore.archs.spec import ArchSpec
from restore.blocks.conv import conv2d
from restore.blocks.mean_shift import MeanShift
from restore.blocks.residual_attention import ResidualAttentionModule
from restore.blocks.upsample import Upsampler


class ResidualAttentionGroup(nn.Module):
    """Attention module then a 3x3 conv (official ``_ResGroup`` / ``_NLResGroup``). Keys ``body.{0,1}``.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, n_feats: int, non_local: bool = False, nonlocal_band: int | None = None) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ResidualAttentionModule(n_feats, non_local=non_local, nonlocal_band=nonlocal_band),
            conv2d(n_feats, n_feats, 3),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class RNAN(nn.Module):
    """Shape: (B, 3, H, W) in [0, rgb_range] -> (B, 3, scale*H, scale*W), any H, W >= 1."""

    def __init__(
        self,
        scale: int,
        n_resgroups: int,
        n_feats: int,
        rgb_range: float,
        nonlocal_band: int | None,
    ) -> None:
        super().__init__()
        if n_resgroups < 2:
            raise ValueError(f"RNAN needs n_resgroups >= 2 (two non-local groups), got {n_resgroups}")
        self.sub_mean = MeanShift(rgb_range, sign=-1)
        self.add_mean = MeanShift(rgb_range, sign=1)
        self.head = nn.Sequential(conv2d(3, n_feats, 3))
        self.body_nl_low = nn.Sequential(ResidualAttentionGroup(n_feats, True, nonlocal_band))
        self.body = nn.Sequential(
            *(ResidualAttentionGroup(n_feats) for _ in range(n_resgroups - 2)), conv2d(n_feats, n_feats, 3)
        )
        self.body_nl_high = nn.Sequential(ResidualAttentionGroup(n_feats, True, nonlocal_band))
        self.tail = nn.Sequential(Upsampler(scale, n_feats), conv2d(n_feats, 3, 3))

    def forward(self, x: Tensor) -> Tensor:
        shallow = self.head(self.sub_mean(x))
        deep = self.body_nl_high(self.body(self.body_nl_low(shallow)))
        return self.add_mean(self.tail(deep + shallow))


def rnan(
    scale: int,
    n_resgroups: int = 10,
    n_feats: int = 64,
    rgb_range: float = 255.0,
    nonlocal_band: int | None = None,
) -> RNAN:
    """RNAN at ``scale`` (2, 3, 4); defaults are the released configuration (9.26 M parameters at x4).

    ``nonlocal_band`` caps the rows of the non-local attention matrix held at once (default: 64 MiB).
    """
    return RNAN(scale, n_resgroups=n_resgroups, n_feats=n_feats, rgb_range=rgb_range, nonlocal_band=nonlocal_band)


def _read_layout(state_dict: StateDict) -> dict[str, Any]:
    """n_resgroups and n_feats of an official RNAN state dict."""
    # body holds the plain groups and the trunk conv; the two non-local groups sit outside it.
    return {"n_resgroups": count_children(state_dict, "body.") + 1, "n_feats": state_dict["head.0.weight"].shape[0]}


def _memory(scale: int, config: Mapping[str, Any], element_size: int) -> MemoryModel:
    # The mask branch keeps an encoder-decoder's worth of maps; its non-local block works in bands of a fixed
    # size (see restore.blocks.nonlocal_attention).
    n_feats = int(config["n_feats"])
    return MemoryModel(
        linear=element_size * (12 * n_feats + upsampler_elements(scale, n_feats) + image_elements(scale)),
        constant=2 * 64 * 2**20,
    )


SPEC = register(ArchSpec(
    name="rnan",
    title="RNAN",
    summary="RNAN (Zhang et al., ICLR 2019), 10 groups, 64 features; weights: RNAN_SR_F64G10P48BIX{s}.pt",
    builder=rnan,
    read_layout=_read_layout,
    fingerprint=re.compile(r"^body_nl_low\."),
    upsampler_prefixes=("tail.",),
    memory=_memory,
    exported_quadratic=2 * 4,  # the exported graph forms each non-local matrix whole: logits and softmax, float32
    basicsr_name="RestoreRNAN",
    published_key="RNAN",
))
