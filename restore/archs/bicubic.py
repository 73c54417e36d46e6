"""The ``bicubic`` baseline as a model: MATLAB-exact bicubic upscaling, no weights.

It behaves like every other network (float [0, 255] NCHW in, float out) so the zoo, the benchmark and
the engine treat it uniformly. The input is rounded to uint8 first, as the papers' protocol does when it
reads the LR PNGs.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from restore.archs import register
from restore.archs.memory import MemoryModel
from restore.archs.spec import ArchSpec


class BicubicUpsampler(nn.Module):
    """Shape: (B, C, H, W) -> (B, C, scale*H, scale*W)."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        from restore.metrics.imresize import imresize

        if x.device.type == "meta":  # shape-only passes (FLOP counting) need no pixels
            return x.new_empty(*x.shape[:-2], x.shape[-2] * self.scale, x.shape[-1] * self.scale)
        lr = x.detach().round().clamp(0, 255).to(torch.uint8)
        return imresize(lr, self.scale).to(x.dtype)


def bicubic(scale: int) -> BicubicUpsampler:
    return BicubicUpsampler(scale)


def _memory(scale: int, config: object, element_size: int) -> MemoryModel:
    # imresize works in float64 whatever the engine's precision, and keeps the input, the half-resized and the
    # resized planes. A 4-tap filter gains nothing from big tiles, and 256-pixel tiles keep its float64 copies small.
    del config, element_size
    return MemoryModel(linear=8.0 * 3 * (1 + scale + scale * scale) * 2, max_tile=256)


SPEC = register(ArchSpec(
    name="bicubic",
    title="bicubic",
    summary="MATLAB-exact bicubic upscaling (imresize), the baseline; no weights",
    builder=bicubic,
    memory=_memory,
    published_key="bicubic",
    learned=False,
    rounds_input=True,
))
