"""A toy architecture written only against the public spec API, as a new ``restore/archs/<arch>.py`` would be.

It is not under ``restore/archs/`` (so restore never discovers it); ``tests/test_arch_specs.py`` registers
:data:`SPEC` with ``restore.archs.register`` for the duration of a test.
"""
from __future__ import annotations

import re
from typing import Any

from torch import Tensor, nn

from restore.archs import ArchSpec
from restore.archs.layout import StateDict
from restore.archs.memory import plain_conv_net
from restore.blocks.conv import conv2d
from restore.blocks.upsample import Upsampler


class ToySR(nn.Module):
    """conv, ReLU, conv, PixelShuffle upsampler, conv. Keys ``toy_head``, ``toy_body``, ``tail.0.*``, ``tail.1``.

    Shape: (B, 3, H, W) -> (B, 3, scale*H, scale*W).
    """

    def __init__(self, scale: int, n_feats: int) -> None:
        super().__init__()
        self.toy_head = conv2d(3, n_feats, 3)
        self.toy_body = conv2d(n_feats, n_feats, 3)
        self.tail = nn.Sequential(Upsampler(scale, n_feats), conv2d(n_feats, 3, 3))

    def forward(self, x: Tensor) -> Tensor:
        features = self.toy_head(x / 255)
        return self.tail(features + self.toy_body(features.relu())) * 255


def toy(scale: int, n_feats: int = 8) -> ToySR:
    """The toy at ``scale``; its "paper configuration" is 8 features."""
    return ToySR(scale, n_feats)


def _read_layout(state_dict: StateDict) -> dict[str, Any]:
    return {"n_feats": state_dict["toy_head.weight"].shape[0]}


SPEC = ArchSpec(
    name="toy",
    title="Toy",
    summary="Toy SR net (tests only): two convs and a PixelShuffle upsampler, 8 features",
    builder=toy,
    read_layout=_read_layout,
    fingerprint=re.compile(r"^toy_head\."),
    upsampler_prefixes=("tail.",),
    memory=lambda scale, config, element_size: plain_conv_net(scale, int(config["n_feats"]), element_size),
)
