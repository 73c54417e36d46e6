"""RCAN (Zhang et al., ECCV 2018): residual-in-residual groups of channel-attention blocks.

Key layout and forward follow yulunzhang/RCAN ``RCAN_TestCode/code/model/rcan.py`` so the official
``RCAN_BIX{2,3,4}.pt`` state dicts load with strict key matching.

RCAN's channel attention is one member of a family (SE, CBAM, BAM, GC, non-local, criss-cross, dual, PA, ESA,
CCA: ``restore.blocks.ATTENTIONS``); ``attention=`` swaps it for any of them, in every RCAB (``attention_at=
"block"``) or once at the end of every residual group (``"group"``, where BAM's paper puts BAM, the RCABs then
carrying none). The default, ``"se"`` in the blocks, is the official network.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from restore.archs import register
from restore.archs.layout import StateDict, count_children
from restore.archs.memory import plain_conv_net
from restore.archs.spec import ArchSpec
from restore.blocks import NO_ATTENTION, attention_option_names, create_attention
from restore.blocks.channel_attention import RCAB
from restore.blocks.conv import conv2d
from restore.blocks.mean_shift import DIV2K_RGB_MEAN, MeanShift
from restore.blocks.upsample import Upsampler


def _add_skip(fresh: Tensor, skip: Tensor) -> Tensor:
    """``fresh + skip``, written into ``fresh`` when autograd is off (it is then a conv output nobody else holds).

    Shape: (B, C, H, W), (B, C, H, W) -> (B, C, H, W).
    """
    if torch.is_grad_enabled():
        return fresh + skip
    return fresh.add_(skip)


class ResidualGroup(nn.Module):
    """``x + conv(RCAB^n(x))``, or ``x + attention(conv(RCAB^n(x)))`` with a group-level ``attention``.

    Keys: ``body.b`` (RCABs, b < n_resblocks), ``body.<n_resblocks>`` (the group conv), ``attention`` (only
    with a group-level attention). ``block_attention`` builds each RCAB's attention (None: RCAN's CALayer).
    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(
        self,
        n_feats: int,
        kernel_size: int,
        reduction: int,
        n_resblocks: int,
        block_attention: Callable[[], nn.Module] | None = None,
        attention: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *[RCAB(n_feats, kernel_size, reduction, attention=block_attention() if block_attention else None)
              for _ in range(n_resblocks)],
            conv2d(n_feats, n_feats, kernel_size),
        )
        if attention is not None:
            self.attention = attention

    def forward(self, x: Tensor) -> Tensor:
        fresh = self.body(x)
        if hasattr(self, "attention"):
            fresh = self.attention(fresh)
        return _add_skip(fresh, x)


class RCAN(nn.Module):
    """Residual channel attention network.

    Keys: ``sub_mean``, ``add_mean``, ``head.0``, ``body.g`` (groups), ``body.<n_resgroups>`` (trunk conv),
    ``tail.0.*`` (upsampler convs), ``tail.1`` (final conv).
    Input and output are RGB in [0, rgb_range]; the output is not clamped.
    On CPU the features run in channels-last layout (oneDNN's native one; NCHW would cost a reorder around
    every conv); the returned image is contiguous NCHW either way.

    Shape: (B, 3, H, W) -> (B, 3, scale*H, scale*W).
    """

    def __init__(
        self,
        scale: int,
        n_resgroups: int,
        n_resblocks: int,
        n_feats: int,
        reduction: int,
        rgb_range: float,
        rgb_mean: Sequence[float],
        kernel_size: int,
        attention: str,
        attention_options: Mapping[str, Any] | None,
        attention_at: str,
    ) -> None:
        super().__init__()
        self.scale = scale
        # Attribute order fixes state_dict order: the official class registers add_mean right after sub_mean.
        self.sub_mean = MeanShift(rgb_range, rgb_mean, sign=-1)
        self.add_mean = MeanShift(rgb_range, rgb_mean, sign=1)
        self.head = nn.Sequential(conv2d(3, n_feats, kernel_size))
        make_attention = _attention_maker(n_feats, reduction, attention, attention_options)
        at_group = attention_at == "group"
        self.body = nn.Sequential(
            *[ResidualGroup(n_feats, kernel_size, reduction, n_resblocks,
                            block_attention=(lambda: nn.Identity()) if at_group else make_attention,
                            attention=make_attention() if at_group else None)
              for _ in range(n_resgroups)],
            conv2d(n_feats, n_feats, kernel_size),
        )
        self.tail = nn.Sequential(Upsampler(scale, n_feats), conv2d(n_feats, 3, kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        features = self.head(self.sub_mean(x))
        features = _add_skip(self.body(features), features)
        # Back to NCHW before the last 1x1 colour conv: PyTorch runs a 3-channel 1x1 conv through its generic
        # kernel, which measured about 6x slower on a channels-last 256x256 map than on a contiguous one.
        return self.add_mean(self.tail(features).contiguous())


ATTENTION_PLACES = ("block", "group")


def _attention_maker(
    n_feats: int, reduction: int, attention: str, options: Mapping[str, Any] | None
) -> Callable[[], nn.Module]:
    """A builder of fresh ``attention`` modules for ``n_feats`` channels.

    A block with a channel reduction takes RCAN's ``reduction`` unless ``options`` set it: the plug-ins then
    compare at RCAN's own bottleneck width (8 in the compact shapes) rather than each paper's 16, which would
    leave 2 channels of a 32-channel net. Raises ValueError/TypeError for an unknown name or option.
    """
    options = dict(options or {})
    if "reduction" in attention_option_names(attention):
        options.setdefault("reduction", reduction)
    create_attention(attention, n_feats, **options)  # fail here, at build time, on a wrong name or option
    return lambda: create_attention(attention, n_feats, **options)


def rcan(
    scale: int,
    n_resgroups: int = 10,
    n_resblocks: int = 20,
    n_feats: int = 64,
    reduction: int = 16,
    rgb_range: float = 255,
    rgb_mean: Sequence[float] = DIV2K_RGB_MEAN,
    res_scale: float = 1,
    kernel_size: int = 3,
    attention: str = "se",
    attention_options: Mapping[str, Any] | None = None,
    attention_at: str = "block",
) -> RCAN:
    """Build RCAN; the defaults are the published configuration (10 groups x 20 RCABs, 64 features).

    ``res_scale`` is accepted because the official option exists, but it has no effect, exactly as in the
    official code (RCAB stores it and never multiplies by it).

    ``attention`` names the attention in place of RCAN's channel attention (``restore.blocks.list_attentions()``;
    ``"se"``, the default, is RCAN's own, official keys), ``attention_options`` its options as a mapping
    (``{"squeeze": "max"}``; a block with a reduction takes ``reduction`` unless it is set there), and
    ``attention_at`` where it goes: ``"block"`` (in every RCAB) or ``"group"`` (once per residual group, after
    the group conv; the RCABs then have none). In a recipe: ``network: {attention: cbam, attention_options:
    {kernel_size: 7}, attention_at: block}``.
    """
    del res_scale  # no effect by design, see the docstring
    if attention_at not in ATTENTION_PLACES:
        raise ValueError(f"attention_at must be one of {', '.join(ATTENTION_PLACES)}, got {attention_at!r}")
    return RCAN(scale, n_resgroups, n_resblocks, n_feats, reduction, rgb_range, rgb_mean, kernel_size,
                attention, attention_options, attention_at)


def _read_layout(state_dict: StateDict) -> dict[str, Any]:
    """n_resgroups, n_resblocks, n_feats, kernel_size and the attention of an RCAN state dict.

    Two attentions are read from the tensors: RCAN's own channel attention (the official keys, with its
    reduction) and none at all (the RCABs keep their two convs only). The other plug-ins are not: parameter-free
    options (SE's ``squeeze: max``, CCA's contrast pooling) leave the same tensors as others, so their cards say
    which they are and a state dict alone is refused rather than guessed.
    """
    head = state_dict["head.0.weight"]
    n_feats = head.shape[0]
    layout = {
        "n_resgroups": count_children(state_dict, "body.") - 1,  # the last child is the trunk conv
        "n_resblocks": count_children(state_dict, "body.0.body.") - 1,  # the last is the group conv
        "n_feats": n_feats,
        "kernel_size": head.shape[-1],
    }
    squeeze = state_dict.get("body.0.body.0.body.3.conv_du.0.weight")
    if squeeze is not None:
        return {**layout, "reduction": n_feats // squeeze.shape[0]}
    if any(key.startswith(("body.0.body.0.body.3.", "body.0.attention.")) for key in state_dict):
        raise ValueError("an attention plug-in other than RCAN's own: its card names it")
    return {**layout, "attention": NO_ATTENTION}


SPEC = register(ArchSpec(
    name="rcan",
    title="RCAN",
    summary="RCAN (Zhang et al., ECCV 2018), 10 groups x 20 RCABs, 64 features; weights: the authors' RCAN_BIX{s}.pt",
    builder=rcan,
    read_layout=_read_layout,
    fingerprint=re.compile(r"^body\.\d+\.body\.\d+\.body\.2\.weight$"),  # an RCAB's second conv, any attention
    upsampler_prefixes=("tail.",),
    memory=lambda scale, config, element_size: plain_conv_net(scale, int(config["n_feats"]), element_size),
    basicsr_name="RestoreRCAN",
    published_key="RCAN",
))
