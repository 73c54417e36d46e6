"""PSNR and SSIM under the super-resolution papers' MATLAB protocol, batched in torch.

The protocol: convert RGB to MATLAB's luma (unrounded), shave ``crop_border`` pixels from every
side (the scale factor), then PSNR with peak 255 and SSIM as in Wang et al.'s ``ssim_index.m``
(11x11 Gaussian window, sigma 1.5, K = (0.01, 0.03), L = 255, 'valid' filtering, mean of the map).
Everything runs in float64 so the six printed decimals of the authors' results files come out.
"""
from __future__ import annotations

import torch
from torch import Tensor

from restore.metrics.color import rgb_to_y

__all__ = ["psnr", "ssim"]

_PEAK = 255.0
_WINDOW_SIZE = 11
_WINDOW_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03


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
        image = image.to(torch.float64)
        if y_channel and image.shape[1] == 3:
            image = rgb_to_y(image)
        if crop_border:
            image = image[..., crop_border:-crop_border, crop_border:-crop_border]
        pair.append(image)
    return pair[0], pair[1]


def psnr(sr: Tensor, hr: Tensor, crop_border: int = 0, y_channel: bool = True) -> Tensor:
    """Peak signal-to-noise ratio in dB with peak 255, one value per image (inf when identical).

    Inputs are uint8 or float on the [0, 255] scale. With ``y_channel`` RGB images are scored on
    MATLAB's luma; single-channel images are scored as they are.

    Shape: (B, C, H, W), (B, C, H, W) -> (B,), float64.
    """
    sr_values, hr_values = _prepare(sr, hr, crop_border, y_channel)
    mse = (sr_values - hr_values).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(_PEAK**2 / mse)


def _gaussian_profile(device: torch.device) -> Tensor:
    """The normalised 1-D factor of MATLAB ``fspecial('gaussian', 11, 1.5)`` (its outer square)."""
    offsets = torch.arange(_WINDOW_SIZE, dtype=torch.float64, device=device) - (_WINDOW_SIZE - 1) / 2
    profile = torch.exp(-(offsets**2) / (2 * _WINDOW_SIGMA**2))
    return profile / profile.sum()


def _gaussian_band(length: int, device: torch.device) -> Tensor:
    """(length - 10, length) matrix whose rows slide the 1-D Gaussian over a signal ('valid' part)."""
    profile = _gaussian_profile(device)
    rows = length - _WINDOW_SIZE + 1
    band = torch.zeros(rows, length, dtype=torch.float64, device=device)
    columns = torch.arange(rows, device=device).unsqueeze(1) + torch.arange(_WINDOW_SIZE, device=device)
    return band.scatter_(1, columns, profile.expand(rows, -1).contiguous())


def _gaussian_filter_valid(images: Tensor) -> Tensor:
    """'valid' filtering with the 11x11 Gaussian window, separably, as two banded matmuls.

    float64 convolution has no fast CPU kernel in torch, while float64 matmul goes to BLAS; the
    band's zeros cost less than the slow convolution path.

    Shape: (N, 1, H, W) -> (N, 1, H - 10, W - 10).
    """
    height, width = images.shape[-2:]
    return _gaussian_band(height, images.device) @ images @ _gaussian_band(width, images.device).T


def ssim(sr: Tensor, hr: Tensor, crop_border: int = 0, y_channel: bool = True) -> Tensor:
    """Structural similarity (Wang et al. 2004, ``ssim_index.m``), one value per image.

    The SSIM map is computed per channel with 'valid' filtering and averaged; for RGB scored
    without ``y_channel`` the channel means are averaged too.

    Shape: (B, C, H, W), (B, C, H, W) -> (B,), float64.
    """
    sr_values, hr_values = _prepare(sr, hr, crop_border, y_channel)
    if min(sr_values.shape[-2:]) < _WINDOW_SIZE:
        raise ValueError(f"SSIM needs images of at least {_WINDOW_SIZE}x{_WINDOW_SIZE} after cropping")
    batch, channels = sr_values.shape[:2]
    x = sr_values.reshape(batch * channels, 1, *sr_values.shape[-2:])
    y = hr_values.reshape(batch * channels, 1, *hr_values.shape[-2:])
    c1 = (_K1 * _PEAK) ** 2
    c2 = (_K2 * _PEAK) ** 2
    # Filter the five moment images in one batch instead of five separate calls.
    moments = _gaussian_filter_valid(torch.cat([x, y, x * x, y * y, x * y], dim=1).view(-1, 1, *x.shape[-2:]))
    moments = moments.view(x.shape[0], 5, *moments.shape[-2:])
    mu_x, mu_y, xx, yy, xy = moments.unbind(dim=1)
    sigma_x = xx - mu_x * mu_x
    sigma_y = yy - mu_y * mu_y
    sigma_xy = xy - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (sigma_x + sigma_y + c2)
    )
    return ssim_map.flatten(1).mean(dim=1).view(batch, channels).mean(dim=1)
