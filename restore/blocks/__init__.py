"""Shared building blocks, one concern per file. Archs compose these; blocks never import archs.

``create_block(name, **kwargs)`` builds a block by its registered name (see ``BLOCKS``);
``create_attention(name, channels, **options)`` builds one of the shape-preserving attention plug-ins (see
``ATTENTIONS``), each a module (B, C, H, W) -> (B, C, H, W) with its paper's default options.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any

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


# attention name -> "module:callable(channels, **options)", the literature's attention modules as plug-ins.
ATTENTIONS: dict[str, str] = {
    "se": "restore.blocks.squeeze_excitation:SqueezeExcitation",
    "cca": "restore.blocks.squeeze_excitation:contrast_channel_attention",
    "cbam": "restore.blocks.channel_spatial_attention:CBAM",
    "bam": "restore.blocks.channel_spatial_attention:BAM",
    "gc": "restore.blocks.global_context:GlobalContext",
    "snl": "restore.blocks.global_context:SimplifiedNonLocal",
    "nl": "restore.blocks.embedded_nonlocal:EmbeddedNonLocal",
    "cc": "restore.blocks.criss_cross:CrissCrossAttention",
    "da": "restore.blocks.dual_attention:DualAttention",
    "pa": "restore.blocks.spatial_gates:PixelAttention",
    "esa": "restore.blocks.spatial_gates:EnhancedSpatialAttention",
}
NO_ATTENTION = "none"


def list_attentions() -> list[str]:
    return [NO_ATTENTION, *ATTENTIONS]


def _attention_factory(name: str):
    if name == NO_ATTENTION:
        return nn.Identity
    try:
        target = ATTENTIONS[name]
    except KeyError:
        raise ValueError(f"unknown attention {name!r}; known: {', '.join(list_attentions())}") from None
    module_name, factory = target.split(":")
    return getattr(importlib.import_module(module_name), factory)


def attention_defaults(name: str) -> dict[str, Any]:
    """The options ``create_attention(name, channels, ...)`` accepts, with their defaults (the paper's)."""
    if name == NO_ATTENTION:
        return {}
    parameters = inspect.signature(_attention_factory(name)).parameters
    return {option: parameter.default for option, parameter in parameters.items() if option != "channels"}


def attention_option_names(name: str) -> tuple[str, ...]:
    """The options ``create_attention(name, channels, ...)`` accepts (``reduction``, ``fusion``, ...)."""
    return tuple(attention_defaults(name))


def create_attention(name: str, channels: int, **options) -> nn.Module:
    """The attention plug-in ``name`` for ``channels``-channel features, with its paper's defaults unless overridden.

    ``none`` is the identity. Unknown names or option values raise ValueError, unknown options TypeError.
    Shape of the module: (B, C, H, W) -> (B, C, H, W).
    """
    factory = _attention_factory(name)
    unknown = sorted(set(options) - set(attention_option_names(name)))
    if unknown:
        known = ", ".join(attention_option_names(name)) or "none"
        raise TypeError(f"attention {name!r} has no option(s) {', '.join(unknown)}; its options: {known}")
    if name == NO_ATTENTION:
        return nn.Identity()
    return factory(channels, **options)
