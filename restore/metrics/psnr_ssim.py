"""PSNR and SSIM under the super-resolution papers' MATLAB protocol, batched in torch.

The protocol: convert RGB to MATLAB's luma (unrounded), shave ``crop_border`` pixels from every
side (the scale factor), then PSNR with peak 255 and SSIM as in Wang et al.'s ``ssim_index.m``
(11x11 Gaussian window, sigma 1.5, K = (0.01, 0.03), L = 255, 'valid' filtering, mean of the map).
Everything runs in float64 so the six printed decimals of the authors' results files come out.
Both metrics run on one intra-op thread (see ``restore.metrics.threads``).
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from restore.metrics.color import rgb_to_y
from restore.metrics.threads import single_intraop_thread

__all__ = ["SSIM_WINDOW", "psnr", "ssim"]

_PEAK = 255.0
SSIM_WINDOW = 11  # the side of the Gaussian window; public so callers can check an image fits it
_WINDOW_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03
# SSIM map rows computed at a time. Whole-image temporaries (five float64 moment images, ~6 MB for
# a BSD100 image) are fresh pages from the OS on every call, and the page faults took about as long
# as the arithmetic; bands of this height are recycled by the allocator and stay in cache.
_BAND_ROWS = 128


def _prepare(sr: Tensor, hr: Tensor, crop_border: int, y_channel: bool) -> tuple[Tensor, Tensor]:
    """Validate, convert to float64 (luma when asked and the images are RGB) and shave the border."""
    if sr.shape != hr.shape:
        raise ValueError(f"sr and hr shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    if sr.dim() != 4:
        raise ValueError(f"expected (B, C, H, W) images, got shape {tuple(sr.shape)}")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    height, width = sr.shape[-2:]
    if 2 * crop_border >= min(height, width):
        raise ValueError(f"crop_border {crop_border} leaves nothing of a {height}x{width} image")
    pair = []
    for image in (sr, hr):
        # Shave first: the luma of the kept pixels is the same, and less gets converted.
        if crop_border:
            image = image[..., crop_border:-crop_border, crop_border:-crop_border]
        image = image.to(torch.float64, memory_format=torch.contiguous_format).contiguous()
        if y_channel and image.shape[1] == 3:
            image = rgb_to_y(image)
        pair.append(image)
    return pair[0], pair[1]


def psnr(sr: Tensor, hr: Tensor, crop_border: int = 0, y_channel: bool = True) -> Tensor:
    """Peak signal-to-noise ratio in dB with peak 255, one value per image (inf when identical).

    Inputs are uint8 or float on the [0, 255] scale. With ``y_channel`` RGB images are scored on
    MATLAB's luma; single-channel images are scored as they are.

    Shape: (B, C, H, W), (B, C, H, W) -> (B,), float64.
    """
    with single_intraop_thread():
        sr_values, hr_values = _prepare(sr, hr, crop_border, y_channel)
        mse = (sr_values - hr_values).pow_(2).flatten(1).mean(dim=1)
        return 10.0 * torch.log10(_PEAK**2 / mse)


@lru_cache(maxsize=1)
def _gaussian_profile() -> tuple[float, ...]:
    """The normalised 1-D factor of MATLAB ``fspecial('gaussian', 11, 1.5)`` (its outer square)."""
    offsets = torch.arange(SSIM_WINDOW, dtype=torch.float64) - (SSIM_WINDOW - 1) / 2
    profile = torch.exp(-(offsets**2) / (2 * _WINDOW_SIGMA**2))
    return tuple((profile / profile.sum()).tolist())


def _gaussian_filter_valid_along(images: Tensor, dim: int) -> Tensor:
    """'valid' filtering with the 1-D Gaussian along ``dim``, one multiply-add per tap.

    Each tap reads a shifted view, so nothing is gathered or padded; float64 convolution has no
    fast CPU kernel in torch, and eleven passes over the image cost far less than a dense banded
    matmul, which spends almost all its work on zeros.

    Shape: (..., L, ...) -> (..., L - 10, ...) along ``dim``.
    """
    profile = _gaussian_profile()
    length = images.shape[dim] - SSIM_WINDOW + 1
    filtered = images.narrow(dim, 0, length) * profile[0]
    for tap in range(1, SSIM_WINDOW):
        filtered.add_(images.narrow(dim, tap, length), alpha=profile[tap])
    return filtered


def _ssim_map(x: Tensor, y: Tensor) -> Tensor:
    """The SSIM map of ``ssim_index.m`` over the 'valid' window positions.

    Shape: (N, H, W), (N, H, W) -> (N, H - 10, W - 10).
    """
    # The five moment images are written into one stack and filtered together.
    moments = torch.empty(5, *x.shape, dtype=torch.float64, device=x.device)
    moments[0], moments[1] = x, y
    torch.mul(x, x, out=moments[2])
    torch.mul(y, y, out=moments[3])
    torch.mul(x, y, out=moments[4])
    moments = _gaussian_filter_valid_along(_gaussian_filter_valid_along(moments, -2), -1)
    mu_x, mu_y, xx, yy, xy = moments.unbind(dim=0)
    c1 = (_K1 * _PEAK) ** 2
    c2 = (_K2 * _PEAK) ** 2
    # ssim_index.m's expressions in its order of operations, in place where a term is used once.
    mu_x_sq, mu_y_sq, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    sigma_x_sq, sigma_y_sq, sigma_xy = xx.sub_(mu_x_sq), yy.sub_(mu_y_sq), xy.sub_(mu_xy)
    numerator = mu_xy.mul_(2).add_(c1).mul_(sigma_xy.mul_(2).add_(c2))
    denominator = mu_x_sq.add_(mu_y_sq).add_(c1).mul_(sigma_x_sq.add_(sigma_y_sq).add_(c2))
    return numerator.div_(denominator)


def ssim(sr: Tensor, hr: Tensor, crop_border: int = 0, y_channel: bool = True) -> Tensor:
    """Structural similarity (Wang et al. 2004, ``ssim_index.m``), one value per image.

    The SSIM map is computed per channel with 'valid' filtering, in bands of rows, and averaged;
    for RGB scored without ``y_channel`` the channel means are averaged too.

    Shape: (B, C, H, W), (B, C, H, W) -> (B,), float64.
    """
    with single_intraop_thread():
        sr_values, hr_values = _prepare(sr, hr, crop_border, y_channel)
        if min(sr_values.shape[-2:]) < SSIM_WINDOW:
            raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} after cropping")
        batch, channels, height, width = sr_values.shape
        x = sr_values.view(batch * channels, height, width)
        y = hr_values.view(batch * channels, height, width)
        map_height = height - SSIM_WINDOW + 1
        map_sum = torch.zeros(batch * channels, dtype=torch.float64, device=x.device)
        for top in range(0, map_height, _BAND_ROWS):
            rows = min(_BAND_ROWS, map_height - top) + SSIM_WINDOW - 1
            map_sum += _ssim_map(x.narrow(1, top, rows), y.narrow(1, top, rows)).sum(dim=(1, 2))
        map_mean = map_sum / (map_height * (width - SSIM_WINDOW + 1))
        return map_mean.view(batch, channels).mean(dim=1)
