"""SANet's style-attention block (GlebSBrykin/SANET ``SANet``) and its mean-variance normalisation."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def mean_variance_norm(features: Tensor, eps: float = 1e-5) -> Tensor:
    """Per-sample, per-channel ``(x - mean) / sqrt(var + eps)`` with the UNBIASED variance, as the official.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """
    flat = features.flatten(2)
    mean = flat.mean(dim=2).view(*features.shape[:2], 1, 1)
    std = (flat.var(dim=2) + eps).sqrt().view(*features.shape[:2], 1, 1)
    return (features - mean) / std


class StyleAttention(nn.Module):
    """``content + out_conv(h(style) · softmax_style(f(mvn(content))^T g(mvn(style))))``.

    The softmax runs over style positions, so this is ordinary attention (queries from content, keys and
    values from style) and goes through ``scaled_dot_product_attention`` with scale 1, which avoids the
    explicit (HW_content x HW_style) matrix on backends with fused kernels. Content and style sizes may
    differ. Keys: ``f``, ``g``, ``h``, ``out_conv`` (1x1 convs with bias), the official layout.

    Shape: (B, C, Hc, Wc), (B, C, Hs, Ws) -> (B, C, Hc, Wc).
    """

    def __init__(self, in_planes: int) -> None:
        super().__init__()
        self.f = nn.Conv2d(in_planes, in_planes, 1)
        self.g = nn.Conv2d(in_planes, in_planes, 1)
        self.h = nn.Conv2d(in_planes, in_planes, 1)
        self.out_conv = nn.Conv2d(in_planes, in_planes, 1)

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        # Contiguous (B, 1, HW, C): with transposed strides the CPU backend falls back to the math path,
        # which materialises the (HW_content x HW_style) matrix (measured: 4 GiB more at 2048x2048).
        query = self.f(mean_variance_norm(content)).flatten(2).transpose(1, 2).unsqueeze(1).contiguous()
        key = self.g(mean_variance_norm(style)).flatten(2).transpose(1, 2).unsqueeze(1).contiguous()
        value = self.h(style).flatten(2).transpose(1, 2).unsqueeze(1).contiguous()
        attended = F.scaled_dot_product_attention(query, key, value, scale=1.0)
        attended = attended.squeeze(1).transpose(1, 2).reshape(content.shape)
        return self.out_conv(attended) + content
