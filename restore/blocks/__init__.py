"""Shared building blocks, one concern per file. Archs compose these; blocks never import archs.

``create_block(name, **kwargs)`` builds a block by its registered name (see ``BLOCKS``).
"""
from __future__ import annotations

import importlib

from torch import nn

# block name -> "module:Class"; modules are imported on first use.
BLOCKS: dict[str, str] = {
    "mean_shift": "restore.blocks.mean_shift:MeanShift",
    "res_block": "restore.blocks.conv:ResBlock",
    "upsampler": "restore.blocks.upsample:Upsampler",
    "channel_attention": "restore.blocks.channel_attention:CALayer",
    "rcab": "restore.blocks.channel_attention:RCAB",
    "residual_dense_block": "restore.blocks.dense:RDB",
    "nonlocal_attention": "restore.blocks.nonlocal_attention:NonLocalBlock",
    "residual_attention": "restore.blocks.residual_attention:ResidualAttentionModule",
    "pooled_nonlocal": "restore.blocks.region_nonlocal:PooledNonLocalBlock",
    "region_nonlocal": "restore.blocks.region_nonlocal:RegionNonLocal",
    "second_order_attention": "restore.blocks.second_order_attention:SecondOrderChannelAttention",
    "style_attention": "restore.blocks.style_attention:StyleAttention",
}


def create_block(name: str, **kwargs) -> nn.Module:
    try:
        target = BLOCKS[name]
    except KeyError:
        raise KeyError(f"unknown block {name!r}; known: {', '.join(sorted(BLOCKS))}") from None
    module_name, cls_name = target.split(":")
    return getattr(importlib.import_module(module_name), cls_name)(**kwargs)
