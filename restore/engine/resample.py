"""Plain resampling the engine needs besides the networks: float bicubic and the final ``outscale`` resize."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.metrics.imresize import imresize

__all__ = ["FloatBicubic", "resize_to"]


class FloatBicubic(nn.Module):
    """MATLAB bicubic upscaling without rounding: ``imresize`` of a double image.

    The zoo's ``bicubic`` model rounds its input to uint8 (the papers' protocol, bit-exact with MATLAB on
    8-bit images); this one keeps every level of 16-bit and float images, and resizes alpha planes.

    Shape: (B, C, H, W) -> (B, C, scale*H, scale*W).
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return imresize(x, self.scale)


def resize_to(image: Tensor, height: int, width: int) -> Tensor:
    """Antialiased bicubic resize to (height, width), in float32, as the last step of a fractional ``outscale``.

    torch's antialiased bicubic uses MATLAB's kernel (Keys a = -0.5, widened when shrinking) and matches
    ``imresize`` of a double image to 1e-15 away from the borders, where only the edge handling differs.
    It runs in float32 in one call; ``imresize`` would make float64 copies of a possibly 16000-pixel image.

    Shape: (B, C, H, W) -> (B, C, height, width).
    """
    if image.shape[-2:] == (height, width):
        return image
    return F.interpolate(
        image.to(torch.float32), size=(height, width), mode="bicubic", align_corners=False, antialias=True
    )
