"""SANet's training losses (paper eq. 6-9): content, style, and the two identity losses.

Each is computed in float32 whatever precision the maps come in (bf16 under a GPU's autocast): the style
statistics are means and variances over every position of a map, and the identity losses small differences.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from restore.blocks.style_attention import mean_variance_norm


def channel_mean_std(features: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-channel mean and sqrt(unbiased var + eps), as the official ``calc_mean_std``.

    Shape: (B, C, H, W) -> (B, C), (B, C).
    """
    flat = features.flatten(2).float()
    return flat.mean(dim=2), (flat.var(dim=2) + eps).sqrt()


def content_loss(output: list[Tensor], content: list[Tensor]) -> Tensor:
    """MSE of the mean-variance-normalised relu4_1 and relu5_1 maps (taps 3 and 4)."""
    return sum(
        F.mse_loss(mean_variance_norm(output[tap].float()), mean_variance_norm(content[tap].float())) for tap in (3, 4)
    )


def style_statistics(taps: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
    """The (channel mean, channel std) of each tap: all the style loss reads of a set of maps."""
    return [channel_mean_std(tap) for tap in taps]


def style_distance(output: list[tuple[Tensor, Tensor]], style: list[tuple[Tensor, Tensor]]) -> Tensor:
    """Sum over taps of the MSE between channel means plus between channel stds (of ``style_statistics``)."""
    total = 0.0
    for (out_mean, out_std), (style_mean, style_std) in zip(output, style):
        total = total + F.mse_loss(out_mean, style_mean) + F.mse_loss(out_std, style_std)
    return total


def style_loss(output: list[Tensor], style: list[Tensor]) -> Tensor:
    """Sum over relu1_1 .. relu5_1 of the MSE between channel means plus between channel stds."""
    return style_distance(style_statistics(output), style_statistics(style))


def channel_means(taps: list[Tensor]) -> list[Tensor]:
    """Each tap's per-channel mean activation over the batch and all positions. Shape: 5 maps -> 5 x (C,)."""
    return [tap.mean(dim=(0, 2, 3)) for tap in taps]


def normalise_taps(taps: list[Tensor], means: list[Tensor]) -> list[Tensor]:
    """Divide each tap's channels by their calibrated mean activation (Gatys et al.'s normalised VGG).

    The paper's loss network is a VGG whose filters were rescaled so each channel's mean activation over
    images is 1; ReLU networks are positively homogeneous per channel, so dividing the taps by those means
    is the same network. Without it, torchvision VGG-16's relu1_1 (means ~0.3) carries ~1% of the style
    loss and colour goes unseen. Shape: 5 maps, 5 x (C,) -> 5 maps.
    """
    return [tap / mean.view(1, -1, 1, 1) for tap, mean in zip(taps, means)]


def identity_pixel_loss(reconstruction: Tensor, image: Tensor) -> Tensor:
    """λ_identity1 term: MSE between I_cc and I_c (or I_ss and I_s) in pixel space."""
    return F.mse_loss(reconstruction.float(), image.float())


def identity_feature_loss(reconstruction: list[Tensor], image: list[Tensor]) -> Tensor:
    """λ_identity2 term: summed MSE over all five taps between the reconstruction's and the image's."""
    return sum(F.mse_loss(a.float(), b.float()) for a, b in zip(reconstruction, image))
