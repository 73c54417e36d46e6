"""RNAN's full-resolution non-local block, with the official softmax over the QUERY axis, in chunks.

The official block forms f = theta^T phi (B, HW, HW) and applies softmax over dim=1, i.e. over the query
(theta) positions i for each key j, not over the keys as in the usual non-local block:

    y_i = sum_j exp(f_ij - lse_j) g_j,   lse_j = logsumexp_i f_ij.

Materialising f costs (HW)^2 floats (17 GB at a 256x256 LR input). Here it is never built whole: a
first pass computes lse_j for a band of key columns at a time, a second pass produces the outputs for a
band of query rows at a time, so the peak is one band x HW.

Under autograd the bands buy nothing: backward needs every band's weights, so the saved tensors add up to the
whole matrix anyway, and the banded path then runs exp three times over it (logsumexp, weights, logsumexp's
backward). When gradients are recorded the block therefore forms the matrix once and uses ``softmax``, whose
backward reuses its output: forward + backward of a compact RNAN (2 groups, 32 features, batch 16 of 48x48)
took 15.9 s banded and 4.7 s so (1 thread, profiler totals).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

# Default size of one band of the attention matrix; small enough to stay cache/RAM friendly, large
# enough that the per-band matmuls stay efficient.
DEFAULT_BAND_BYTES = 64 * 2**20


def _band_size(batch: int, positions: int, element_size: int, band_bytes: int) -> int:
    return max(1, band_bytes // max(1, batch * positions * element_size))


def query_softmax_attention(query: Tensor, key: Tensor, value: Tensor, band: int | None = None) -> Tensor:
    """``softmax(query^T key, dim=query axis) @ value`` without forming the (N x N) matrix.

    ``query`` and ``key`` are (B, E, N) (channels first, as the 1x1 convs produce them), ``value`` is
    (B, N, D). ``band`` is the number of rows/columns of the logit matrix computed at once (default: a
    64 MiB band). When autograd records (training), the matrix is formed whole instead (see the module doc).

    Shape: (B, E, N), (B, E, N), (B, N, D) -> (B, N, D).
    """
    batch, _, positions = query.shape
    if torch.is_grad_enabled() and any(t.requires_grad for t in (query, key, value)):
        return torch.bmm(torch.softmax(torch.bmm(query.transpose(1, 2), key), dim=1), value)
    if band is None:
        band = _band_size(batch, positions, query.element_size(), DEFAULT_BAND_BYTES)
    query_rows = query.transpose(1, 2)

    column_lse = torch.empty(batch, positions, dtype=query.dtype, device=query.device)
    for start in range(0, positions, band):
        stop = min(start + band, positions)
        logits = torch.bmm(query_rows, key[:, :, start:stop])
        column_lse[:, start:stop] = torch.logsumexp(logits, dim=1)

    bands = []
    for start in range(0, positions, band):
        stop = min(start + band, positions)
        weights = torch.bmm(query_rows[:, start:stop], key).sub_(column_lse.unsqueeze(1)).exp_()
        bands.append(torch.bmm(weights, value))
    return torch.cat(bands, dim=1)


class NonLocalBlock(nn.Module):
    """RNAN ``NonLocalBlock2D``: ``x + W(attention(theta(x), phi(x), g(x)))``, full resolution, no pooling.

    Keys: ``g``, ``W``, ``theta``, ``phi`` (1x1 convs with bias), the official layout; RNAN uses
    ``inter_channels = channels // 2``. ``band`` caps the rows of the attention matrix held at once.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, inter_channels: int, band: int | None = None) -> None:
        super().__init__()
        self.inter_channels = inter_channels
        self.band = band
        self.g = nn.Conv2d(channels, inter_channels, 1)
        self.W = nn.Conv2d(inter_channels, channels, 1)
        self.theta = nn.Conv2d(channels, inter_channels, 1)
        self.phi = nn.Conv2d(channels, inter_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        value = self.g(x).flatten(2).transpose(1, 2)
        attended = query_softmax_attention(self.theta(x).flatten(2), self.phi(x).flatten(2), value, self.band)
        attended = attended.transpose(1, 2).reshape(batch, self.inter_channels, height, width)
        return self.W(attended) + x
