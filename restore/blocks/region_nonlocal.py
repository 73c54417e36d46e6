"""SAN's region-level non-local block (``Nonlocal_CA``): the same pooled non-local block on each quadrant."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.blocks.second_order_attention import SecondOrderChannelAttention
from restore.blocks.traceable import use_traceable_paths

# Each quadrant must keep at least one key after the 2x2 max-pool, so each side needs >= 2 * 2 pixels.
MIN_REGION_SIDE = 4


class PooledNonLocalBlock(nn.Module):
    """SAN's embedded-Gaussian non-local block: keys and values max-pooled 2x2 (floor), queries not.

    SAN passes ``sub_sample=False``, but the official ``_NonLocalBlockND`` rebinds that local name to
    ``nn.Upsample`` (truthy) before testing it, so ``g`` and ``phi`` are always conv + MaxPool2d(2); hence
    the keys ``g.0`` / ``phi.0``. ``W`` is a plain 1x1 conv (bn_layer=False). Softmax is over the pooled
    key axis, which is ordinary attention, so it runs through ``scaled_dot_product_attention`` (scale 1).

    Shape: (B, C, H, W) -> (B, C, H, W), H, W >= 2.
    """

    def __init__(self, channels: int, inter_channels: int) -> None:
        super().__init__()
        self.inter_channels = inter_channels
        self.g = nn.Sequential(nn.Conv2d(channels, inter_channels, 1), nn.MaxPool2d(2))
        self.W = nn.Conv2d(inter_channels, channels, 1)
        self.theta = nn.Conv2d(channels, inter_channels, 1)
        self.phi = nn.Sequential(nn.Conv2d(channels, inter_channels, 1), nn.MaxPool2d(2))

    def forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        # Contiguous (B, 1, N, C') operands: with the transposed views PyTorch's CPU dispatcher falls back to
        # the math kernel, which materialises the (HW) x (HW/4) matrix (4 GiB per quadrant at a 512x512 LR
        # input, measured killed for memory), while the fused kernel works in blocks.
        query = self.theta(x).flatten(2).transpose(1, 2).unsqueeze(1).contiguous()
        key = self.phi(x).flatten(2).transpose(1, 2).unsqueeze(1).contiguous()
        value = self.g(x).flatten(2).transpose(1, 2).unsqueeze(1).contiguous()
        attended = F.scaled_dot_product_attention(query, key, value, scale=1.0)
        attended = attended.squeeze(1).transpose(1, 2).reshape(batch, self.inter_channels, height, width)
        return self.W(attended) + x


class RegionNonLocal(nn.Module):
    """``Nonlocal_CA``: split at int(H/2), int(W/2) and run one shared ``PooledNonLocalBlock`` per quadrant.

    ``soca`` is built (so official checkpoints load strictly: ``soca.conv_du.{0,2}``) but, as in the
    official forward, never called; its parameters have no effect on the output.

    The official block fails below 4 pixels per side (a quadrant pools to nothing). Such inputs are
    replicate-padded at the bottom/right to 4 and the result cropped back; inputs of 4 or more are
    untouched, so every size the official accepts gives the official result.

    Shape: (B, C, H, W) -> (B, C, H, W), any H, W >= 1.
    """

    def __init__(self, channels: int, inter_channels: int, reduction: int = 8) -> None:
        super().__init__()
        self.soca = SecondOrderChannelAttention(channels, reduction=reduction)
        self.non_local = PooledNonLocalBlock(channels, inter_channels)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        if use_traceable_paths():
            return self._traceable_forward(x)
        pad_bottom = max(0, MIN_REGION_SIDE - height)
        pad_right = max(0, MIN_REGION_SIDE - width)
        if pad_bottom or pad_right:
            padded = F.pad(x, (0, pad_right, 0, pad_bottom), mode="replicate")
            return self._quadrant_attention(padded)[:, :, :height, :width]
        return self._quadrant_attention(x)

    def _quadrant_attention(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        mid_h, mid_w = height // 2, width // 2
        top = torch.cat([self.non_local(x[:, :, :mid_h, :mid_w]), self.non_local(x[:, :, :mid_h, mid_w:])], dim=3)
        bottom = torch.cat([self.non_local(x[:, :, mid_h:, :mid_w]), self.non_local(x[:, :, mid_h:, mid_w:])], dim=3)
        return torch.cat([top, bottom], dim=2)

    def _traceable_forward(self, x: Tensor) -> Tensor:
        """:meth:`forward` without a branch on the size (a zero pad changes nothing), for graph export.

        Splits with explicit sizes instead of slices, so the traced quadrant sizes are plain sums and
        differences of the input's sides, with no clamping of slice bounds for the tracer to reason about.
        """
        height, width = x.shape[-2:]
        pad_bottom = torch.sym_max(MIN_REGION_SIDE - height, 0)
        pad_right = torch.sym_max(MIN_REGION_SIDE - width, 0)
        padded = F.pad(x, (0, pad_right, 0, pad_bottom), mode="replicate")
        padded_height, padded_width = height + pad_bottom, width + pad_right
        rows = [padded_height // 2, padded_height - padded_height // 2]
        cols = [padded_width // 2, padded_width - padded_width // 2]
        halves = [
            torch.cat([self.non_local(quadrant) for quadrant in torch.split(half, cols, dim=3)], dim=3)
            for half in torch.split(padded, rows, dim=2)
        ]
        attended = torch.cat(halves, dim=2)
        attended = torch.split(attended, [height, pad_bottom], dim=2)[0]
        return torch.split(attended, [width, pad_right], dim=3)[0]
