"""MATLAB ``imresize(img, s, 'bicubic')``, bit-exact for uint8 images, in torch.

The super-resolution literature defines its LR inputs and its bicubic baselines with MATLAB's
resize, so evaluation must reproduce it to the last bit. MATLAB resizes one axis at a time with
a separable cubic kernel (a = -0.5, support 4 taps, stretched by 1/s when shrinking so that it
also low-pass filters), and for uint8 input it stores uint8 between the two passes, rounding half
away from zero. Taps falling outside the image reuse the edge pixel.

Each axis becomes a dense (out, in) float64 matrix holding the few non-zero weights of every
output sample, so a pass is one matmul over the whole batch. Float64 matters: the x2 and x4
upscaling weights are dyadic fractions, their products with integers are exact in float64, and
exact half-way values must round exactly as MATLAB rounds them.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["imresize", "modcrop", "bicubic_degrade"]

_KERNEL_WIDTH = 4.0


def _cubic(x: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    absx = x.abs()
    absx2 = absx * absx
    absx3 = absx2 * absx
    near = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1)
    far = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1) & (absx <= 2))
    return near + far


def _resize_matrix(in_length: int, out_length: int, scale: float, device: torch.device) -> Tensor:
    """The (out_length, in_length) float64 matrix applying MATLAB's bicubic contributions on one axis.

    Follows ``contributions`` in MATLAB's imresize.m: output sample ``x`` (1-based) sits at input
    coordinate ``u = x / s + (1 - 1 / s) / 2``; when shrinking, the kernel is widened by ``1 / s`` and
    scaled by ``s`` so it integrates to one; each row is normalised to sum to one. Out-of-range tap
    indices are clamped, which adds their weight onto the edge pixel.
    """
    antialias = scale < 1
    kernel_width = _KERNEL_WIDTH / scale if antialias else _KERNEL_WIDTH
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = torch.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left.unsqueeze(1) + torch.arange(taps, dtype=torch.float64)
    distance = u.unsqueeze(1) - indices
    weights = scale * _cubic(scale * distance) if antialias else _cubic(distance)
    weights = weights / weights.sum(dim=1, keepdim=True)
    source = (indices.long() - 1).clamp_(0, in_length - 1)
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    matrix.scatter_add_(1, source, weights)
    return matrix.to(device)


def _round_half_away_(values: Tensor) -> Tensor:
    """MATLAB's cast to uint8, in place: round half away from zero, then saturate to [0, 255].

    Saturating first is equivalent (negatives round to <= 0 anyway) and leaves only non-negative
    values, for which rounding half away from zero is ``floor(v + 0.5)``.
    """
    return values.clamp_(0, 255).add_(0.5).floor_()


def _output_length(in_length: int, scale: float) -> int:
    # MATLAB takes ceil(scale * length); the product of a length with an inexact 1/s such as 1/3
    # can land a hair above an integer, which must not add a spurious row.
    exact = scale * in_length
    nearest = round(exact)
    return int(nearest) if abs(exact - nearest) < 1e-9 else int(math.ceil(exact))


def imresize(image: Tensor, scale: float | None = None, *, size: tuple[int, int] | None = None) -> Tensor:
    """Resize like MATLAB ``imresize(image, scale, 'bicubic')`` (antialiased when shrinking).

    Give either ``scale`` (one factor for both axes; the output side is ``ceil(scale * side)``) or
    ``size`` (``(height, width)``). uint8 input is rounded and stored as uint8 after each 1-D pass
    exactly as MATLAB does, giving bit-identical results; float input is resized without rounding
    and comes back in its own dtype.

    Shape: (B, C, H, W) or (C, H, W) -> (B, C, H', W') or (C, H', W').
    """
    if (scale is None) == (size is None):
        raise ValueError("imresize needs exactly one of scale or size")
    if image.dim() not in (3, 4):
        raise ValueError(f"imresize expects (C, H, W) or (B, C, H, W), got shape {tuple(image.shape)}")
    if image.dtype != torch.uint8 and not image.dtype.is_floating_point:
        raise TypeError(f"imresize expects uint8 or floating point input, got {image.dtype}")
    if scale is not None and scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    unbatched = image.dim() == 3
    batch = image.unsqueeze(0) if unbatched else image
    in_height, in_width = batch.shape[-2:]
    if size is not None:
        out_height, out_width = int(size[0]), int(size[1])
        if out_height <= 0 or out_width <= 0:
            raise ValueError(f"size must be positive, got {size}")
        scale_h, scale_w = out_height / in_height, out_width / in_width
    else:
        scale_h = scale_w = float(scale)
        out_height, out_width = _output_length(in_height, scale_h), _output_length(in_width, scale_w)

    quantize = image.dtype == torch.uint8
    values = batch.to(torch.float64)
    # MATLAB resizes the axis with the smaller scale factor first (height first when equal).
    height_pass = (_resize_matrix(in_height, out_height, scale_h, batch.device), True)
    width_pass = (_resize_matrix(in_width, out_width, scale_w, batch.device), False)
    passes = (height_pass, width_pass) if scale_h <= scale_w else (width_pass, height_pass)
    for matrix, along_height in passes:
        values = matrix @ values if along_height else values @ matrix.T
        if quantize:
            values = _round_half_away_(values)

    result = values.to(torch.uint8) if quantize else values.to(image.dtype)
    return result.squeeze(0) if unbatched else result


def modcrop(image: Tensor, scale: int) -> Tensor:
    """Crop the bottom and right edges so both sides are multiples of ``scale`` (MATLAB ``modcrop``).

    Shape: (..., H, W) -> (..., H - H mod s, W - W mod s).
    """
    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    height, width = image.shape[-2:]
    return image[..., : height - height % scale, : width - width % scale]


def bicubic_degrade(hr: Tensor, scale: int) -> Tensor:
    """The papers' "BI" degradation: ``imresize(modcrop(hr, s), 1/s, 'bicubic')``.

    The channel count is kept: a single-channel HR (Set14 "bridge") yields a single-channel LR, as
    in the published LR files. The papers' scripts repeat it to three channels first, which gives
    three identical copies of this same channel, so callers that need RGB can ``expand`` the result.

    Shape: (B, C, H, W) or (C, H, W) -> (B, C, H // s, W // s) or (C, H // s, W // s).
    """
    return imresize(modcrop(hr, scale), 1.0 / scale)
