"""Reading an official state dict's configuration from its key names and tensor shapes.

Shared by the archs' ``read_layout`` functions (see :class:`restore.archs.spec.ArchSpec`): counting indexed
children (``body.0.``, ``body.1.``, ...) and finding the scale from a PixelShuffle upsampler's conv shapes.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from torch import Tensor

StateDict = Mapping[str, Tensor]

__all__ = ["StateDict", "count_children", "pixel_shuffle_scale"]


def count_children(state_dict: StateDict, prefix: str) -> int:
    """How many numbered children ``<prefix>0.``, ``<prefix>1.``, ... the keys name (0 when none).

    The numbers must run 0..n-1 without a gap, as ``nn.Sequential``/``nn.ModuleList`` number them; a gap
    raises ValueError (the layout is not one of ours).
    """
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(match.group(1)) for key in state_dict if (match := pattern.match(key))}
    if found and found != set(range(len(found))):
        raise ValueError(f"children of {prefix!r} are not numbered 0..n-1: {sorted(found)}")
    return len(found)


def _natural_order(key: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in key.split("."))


def pixel_shuffle_scale(state_dict: StateDict, prefixes: Iterable[str]) -> int | None:
    """The upscaling factor of a conv + PixelShuffle upsampler, from the conv weights under ``prefixes``.

    The convs under the prefixes, in module order, alternate with PixelShuffle(r) stages: a conv widening
    to ``c * r**2`` channels is followed by one reading ``c``. The factor is the product of those r (RCAN's
    ``tail.0.*`` then ``tail.1``; RDN's ``UPNet.0, 2[, 4]``). None when no such chain is there.
    """
    prefixes = tuple(prefixes)
    convs = sorted(
        (key for key, value in state_dict.items()
         if key.startswith(prefixes) and key.endswith(".weight") and value.dim() == 4),
        key=_natural_order,
    )
    scale = 1
    for this, following in zip(convs, convs[1:]):
        widening = state_dict[this].shape[0] / max(state_dict[following].shape[1], 1)
        root = math.isqrt(int(widening))
        if root * root != widening or root < 1:
            return None
        scale *= root
    return scale if len(convs) >= 2 and scale > 1 else None
