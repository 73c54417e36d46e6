"""MATLAB ``imresize(img, s, 'bicubic')``, bit-exact for uint8 images, in torch.

The super-resolution literature defines its LR inputs and its bicubic baselines with MATLAB's
resize, so evaluation must reproduce it to the last bit. MATLAB resizes one axis at a time with
a separable cubic kernel (a = -0.5, support 4 taps, stretched by 1/s when shrinking so that it
also low-pass filters), and for uint8 input it stores uint8 between the two passes, rounding half
away from zero. Taps falling outside the image reuse the edge pixel.

Each axis keeps, per output sample, only the taps its kernel reaches (4 when enlarging, 4/s when
shrinking by s), as a cached (taps, out) table of source rows and float64 weights; a pass is then
one gather and one multiply-add per tap over the whole batch, summed in tap order as MATLAB's
loop does. Float64 matters: the x2 and x4 upscaling weights are dyadic fractions, their products
with integers are exact in float64, and exact half-way values must round exactly as MATLAB rounds
them. The second axis is resized on a transposed copy so that every gather takes whole rows.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from restore.metrics.threads import single_intraop_thread

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


@lru_cache(maxsize=64)
def _contributions(in_length: int, out_length: int, scale: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """MATLAB's bicubic contributions on one axis: (taps, out) source indices and float64 weights.

    Follows ``contributions`` in MATLAB's imresize.m: output sample ``x`` (1-based) sits at input
    coordinate ``u = x / s + (1 - 1 / s) / 2``; when shrinking, the kernel is widened by ``1 / s`` and
    scaled by ``s`` so it integrates to one; each output's weights are normalised to sum to one; taps
    whose weight is zero for every output are dropped; out-of-range indices are clamped, which
    replicates the edge pixel. Cached: evaluation resizes many images of a few sizes, and callers
    only read the tables.
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
    used = weights.ne(0).any(dim=0)
    sources = (indices[:, used].long() - 1).clamp_(0, in_length - 1)
    return sources.T.contiguous().to(device), weights[:, used].T.contiguous().to(device)


def _resize_rows(values: Tensor, out_length: int, scale: float, quantize: bool) -> Tensor:
    """One MATLAB bicubic pass along dim 1 of a contiguous float64 batch, rounded to uint8 levels if asked.

    Shape: (N, L, M) -> (N, out_length, M).
    """
    sources, weights = _contributions(values.shape[1], out_length, scale, values.device)
    weights = weights.unsqueeze(-1)
    result = values.index_select(1, sources[0]).mul_(weights[0])
    for tap in range(1, sources.shape[0]):
        # Multiply, then add, as a plain loop over taps rounds; the fused addcmul_ rounds once. Either
        # gives MATLAB's bytes at integer factors; at other factors exact half-way ties may differ.
        result.add_(values.index_select(1, sources[tap]).mul_(weights[tap]))
    return _round_half_away_(result) if quantize else result


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
    batch_size, channels = batch.shape[:2]
    with single_intraop_thread():
        # One conversion, straight into a contiguous layout: decoded images often arrive as
        # permuted (H, W, C) arrays, and gathering rows from those is several times slower.
        values = batch.to(torch.float64, memory_format=torch.contiguous_format).contiguous()
        values = values.view(batch_size * channels, in_height, in_width)
        # MATLAB resizes the axis with the smaller scale factor first (height first when equal).
        if scale_h <= scale_w:
            values = _resize_rows(values, out_height, scale_h, quantize)
            values = _resize_rows(values.transpose(1, 2).contiguous(), out_width, scale_w, quantize).transpose(1, 2)
        else:
            values = _resize_rows(values.transpose(1, 2).contiguous(), out_width, scale_w, quantize)
            values = _resize_rows(values.transpose(1, 2).contiguous(), out_height, scale_h, quantize)
        result = values.to(torch.uint8 if quantize else image.dtype, memory_format=torch.contiguous_format)
    result = result.view(batch_size, channels, out_height, out_width)
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
