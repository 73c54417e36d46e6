"""BasicSR's own ``RCAN`` (``basicsr/archs/rcan_arch.py``) state dicts, mapped exactly onto our RCAN.

BasicSR names the same network differently and runs it on another range:

=========================================================  ===================================================
BasicSR                                                    ours (the official layout)
=========================================================  ===================================================
``conv_first``                                             ``head.0``
``body.g.residual_group.b.rcab.{0,2}``                     ``body.g.body.b.body.{0,2}``
``body.g.residual_group.b.rcab.3.attention.{1,3}``         ``body.g.body.b.body.3.conv_du.{0,2}``
``body.g.conv``                                            ``body.g.body.<n_resblocks>``
``conv_after_body``                                        ``body.<n_resgroups>``
``upsample.i``                                             ``tail.0.i``
``conv_last``                                              ``tail.1``
(not stored: ``img_range``, ``rgb_mean``)                  ``sub_mean``, ``add_mean``
=========================================================  ===================================================

BasicSR's forward takes RGB in [0, 1] and computes ``conv_first((x - mean) * img_range)``; ours takes
[0, 255] and computes ``head(x - 255 * mean)``. With ``x = 255 * x01`` the two agree when ``head``'s weight
is ``conv_first``'s times ``img_range / 255``; likewise ``conv_last``'s weight and bias are scaled by
``255 / img_range`` for the output, ``conv_last(...) / img_range + mean``, to come out in [0, 255]. Every other
layer sees identical features, so the mapping is exact (up to float rounding); at BasicSR's default
``img_range = 255`` no tensor changes at all.

The file does not store ``img_range``, ``rgb_mean`` or ``res_scale`` (BasicSR keeps them in the option file);
BasicSR's defaults are assumed (255, DIV2K's mean, 1), and the first two can be given.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import Tensor

from restore.archs.layout import StateDict, count_children
from restore.archs.rcan import SPEC
from restore.blocks.mean_shift import DIV2K_RGB_MEAN, MeanShift

__all__ = ["ARCH", "BASICSR_IMG_RANGE", "looks_like_basicsr_rcan", "to_official"]

ARCH = SPEC.name  # the arch this layout is a renaming of
BASICSR_IMG_RANGE = 255.0  # BasicSR's default img_range (and that of its RCAN option files)
_FINGERPRINT = re.compile(r"^body\.\d+\.residual_group\.\d+\.rcab\.")

# BasicSR key pattern -> ours; {g}/{b}/{i} are group, block and upsampler indices.
_RENAMES = (
    (re.compile(r"^conv_first\.(\w+)$"), "head.0.{0}"),
    (re.compile(r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.([02])\.(\w+)$"), "body.{0}.body.{1}.body.{2}.{3}"),
    (re.compile(r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.3\.attention\.1\.(\w+)$"),
     "body.{0}.body.{1}.body.3.conv_du.0.{2}"),
    (re.compile(r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.3\.attention\.3\.(\w+)$"),
     "body.{0}.body.{1}.body.3.conv_du.2.{2}"),
    (re.compile(r"^upsample\.(\d+)\.(\w+)$"), "tail.0.{0}.{1}"),
    (re.compile(r"^conv_last\.(\w+)$"), "tail.1.{0}"),
)


def looks_like_basicsr_rcan(state_dict: StateDict) -> bool:
    """Whether any key has BasicSR's RCAB naming (``body.g.residual_group.b.rcab.``)."""
    return any(_FINGERPRINT.match(key) for key in state_dict)


def _renamed(key: str, n_resgroups: int, blocks_in: dict[int, int]) -> str:
    """Our name of BasicSR's ``key``; a key BasicSR's RCAN does not have is kept, to show as unexpected."""
    for pattern, template in _RENAMES:
        match = pattern.match(key)
        if match:
            return template.format(*match.groups())
    group_conv = re.match(r"^body\.(\d+)\.conv\.(\w+)$", key)
    if group_conv:
        group = int(group_conv.group(1))
        return f"body.{group}.body.{blocks_in.get(group, 0)}.{group_conv.group(2)}"
    trunk = re.match(r"^conv_after_body\.(\w+)$", key)
    if trunk:
        return f"body.{n_resgroups}.{trunk.group(1)}"
    return key


def to_official(
    state_dict: StateDict,
    img_range: float = BASICSR_IMG_RANGE,
    rgb_mean: Sequence[float] = DIV2K_RGB_MEAN,
) -> dict[str, Tensor]:
    """BasicSR's RCAN ``state_dict`` in our keys, with the range folded into the first and last convs and the
    mean shift added; a state dict of our RCAN that computes ``255 * basicsr(x / 255)``.

    Raises ValueError when the group or block children are not numbered 0..n-1.
    """
    if img_range <= 0:
        raise ValueError(f"img_range must be positive, got {img_range}")
    n_resgroups = count_children(state_dict, "body.")
    blocks_in = {group: count_children(state_dict, f"body.{group}.residual_group.") for group in range(n_resgroups)}
    converted = {_renamed(key, n_resgroups, blocks_in): value for key, value in state_dict.items()}
    # The range folds into the linear convs at either end (see the module docstring).
    to_ours = BASICSR_IMG_RANGE / img_range
    if to_ours != 1:
        for key in ("head.0.weight",):
            if key in converted:
                converted[key] = converted[key] / to_ours
        for key in ("tail.1.weight", "tail.1.bias"):
            if key in converted:
                converted[key] = converted[key] * to_ours
    dtype = state_dict["conv_first.weight"].dtype if "conv_first.weight" in state_dict else torch.float32
    for name, sign in (("sub_mean", -1), ("add_mean", 1)):
        shift = MeanShift(BASICSR_IMG_RANGE, rgb_mean, sign=sign)
        converted[f"{name}.weight"] = shift.weight.detach().to(dtype)
        converted[f"{name}.bias"] = shift.bias.detach().to(dtype)
    return converted
