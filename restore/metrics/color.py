"""Colour conversions: MATLAB's ITU-R BT.601 (``rgb2ycbcr`` / ``ycbcr2rgb``) on the [0, 255] scale, and
sRGB to CIE L*a*b*.

The papers score super-resolution on the luma channel as MATLAB's ``rgb2ycbcr`` defines it (studio
range: Y in [16, 235]); style transfer's colour preservation swaps luma with the same matrices.
Nothing is rounded: MATLAB's scripts convert ``im2double`` images, so Y keeps its fractions.
L*a*b* (D65 white) is where colour distances are roughly perceptual: the style evaluation compares
palettes there.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["lab_to_rgb", "rgb_to_lab", "rgb_to_y", "rgb_to_ycbcr", "ycbcr_to_rgb"]

# Rows give Y, Cb, Cr from R, G, B in [0, 1]; offsets land them on the [0, 255] scale.
_RGB_TO_YCBCR = (
    (65.481, 128.553, 24.966),
    (-37.797, -74.203, 112.0),
    (112.0, -93.786, -18.214),
)
_YCBCR_OFFSET = (16.0, 128.0, 128.0)


def _working_dtype(image: Tensor) -> torch.dtype:
    # uint8 pixels are exact in float64, which is what MATLAB's im2double gives the scripts.
    return torch.float64 if image.dtype == torch.uint8 else image.dtype


def _check_rgb(image: Tensor, name: str) -> None:
    if image.dim() < 3 or image.shape[-3] != 3:
        raise ValueError(f"{name} expects (..., 3, H, W), got shape {tuple(image.shape)}")


def _matrix(image: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    matrix = torch.tensor(_RGB_TO_YCBCR, dtype=dtype, device=image.device) / 255.0
    offset = torch.tensor(_YCBCR_OFFSET, dtype=dtype, device=image.device)
    return matrix, offset


def rgb_to_ycbcr(image: Tensor) -> Tensor:
    """RGB in [0, 255] (uint8 or float) to unrounded YCbCr on the [0, 255] scale.

    Shape: (..., 3, H, W) -> (..., 3, H, W); float64 for uint8 input, else the input dtype.
    """
    _check_rgb(image, "rgb_to_ycbcr")
    dtype = _working_dtype(image)
    matrix, offset = _matrix(image, dtype)
    return torch.einsum("oc,...chw->...ohw", matrix, image.to(dtype)) + offset[:, None, None]


def rgb_to_y(image: Tensor) -> Tensor:
    """MATLAB ``rgb2ycbcr`` luma: ``16 + (65.481 R + 128.553 G + 24.966 B) / 255``, unrounded.

    Shape: (..., 3, H, W) -> (..., 1, H, W); float64 for uint8 input, else the input dtype.
    """
    _check_rgb(image, "rgb_to_y")
    dtype = _working_dtype(image)
    matrix, offset = _matrix(image, dtype)
    return torch.einsum("c,...chw->...hw", matrix[0], image.to(dtype)).unsqueeze(-3) + offset[0]


def ycbcr_to_rgb(image: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (MATLAB ``ycbcr2rgb``), unrounded and unclamped.

    Shape: (..., 3, H, W) -> (..., 3, H, W); float64 for uint8 input, else the input dtype.
    """
    _check_rgb(image, "ycbcr_to_rgb")
    dtype = _working_dtype(image)
    matrix, offset = _matrix(image, torch.float64)
    inverse = torch.linalg.inv(matrix).to(dtype)
    centred = image.to(dtype) - offset.to(dtype)[:, None, None]
    return torch.einsum("oc,...chw->...ohw", inverse, centred)


# sRGB (linear) -> CIE XYZ for the D65 white, rows X, Y, Z (IEC 61966-2-1), and that white's XYZ.
_LINEAR_RGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
_D65_WHITE = (0.95047, 1.0, 1.08883)
# Below this sRGB value the transfer curve is linear; the same point bounds both directions.
_SRGB_KNEE = 0.04045
# CIE's cube root gives way to a straight line below (6/29)^3.
_LAB_DELTA = 6.0 / 29.0


def rgb_to_lab(image: Tensor) -> Tensor:
    """sRGB in [0, 1] (clamped) to CIE L*a*b* (D65): L in [0, 100], a and b roughly in [-110, 110].

    Shape: (..., 3, H, W) -> (..., 3, H, W), in the input's float dtype.
    """
    _check_rgb(image, "rgb_to_lab")
    rgb = image.clamp(0, 1)
    linear = torch.where(rgb <= _SRGB_KNEE, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(_LINEAR_RGB_TO_XYZ, dtype=rgb.dtype, device=rgb.device)
    white = torch.tensor(_D65_WHITE, dtype=rgb.dtype, device=rgb.device)[:, None, None]
    xyz = torch.einsum("oc,...chw->...ohw", matrix, linear) / white
    # CIE's cube root with its linear segment near black.
    delta = _LAB_DELTA
    f = torch.where(xyz > delta**3, xyz.clamp_min(delta**3) ** (1.0 / 3.0), xyz / (3 * delta**2) + 4.0 / 29.0)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-3)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_lab`: CIE L*a*b* (D65) to sRGB, unclamped (colours outside the sRGB gamut
    land outside [0, 1]; callers clamp).

    Shape: (..., 3, H, W) -> (..., 3, H, W), in the input's float dtype.
    """
    _check_rgb(lab, "lab_to_rgb")
    lightness, a, b = lab.unbind(-3)
    fy = (lightness + 16.0) / 116.0
    f = torch.stack([fy + a / 500.0, fy, fy - b / 200.0], dim=-3)
    delta = _LAB_DELTA
    xyz = torch.where(f > delta, f**3, 3 * delta**2 * (f - 4.0 / 29.0))
    white = torch.tensor(_D65_WHITE, dtype=lab.dtype, device=lab.device)[:, None, None]
    inverse = torch.linalg.inv(torch.tensor(_LINEAR_RGB_TO_XYZ, dtype=torch.float64)).to(lab.dtype).to(lab.device)
    linear = torch.einsum("oc,...chw->...ohw", inverse, xyz * white)
    knee = _SRGB_KNEE / 12.92
    return torch.where(linear <= knee, linear * 12.92, 1.055 * linear.clamp_min(knee) ** (1.0 / 2.4) - 0.055)
