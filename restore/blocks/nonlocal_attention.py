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

Without gradients the default path runs both passes through PyTorch's fused CPU attention kernel
(``scaled_dot_product_attention``, tiled, O(N) memory), which normalises over keys, not queries. Two exact
rewrites make it compute the query softmax:

- **Column log-sum-exp.** With the keys as queries and the queries as keys, add a *sink* key whose logit is a
  per-column centre c_j and whose value is a second indicator column. The kernel then returns
  A_j = Z_j / (Z_j + e^c_j) and S_j = e^c_j / (Z_j + e^c_j), with Z_j = sum_i exp f_ij, so
  lse_j = c_j + log A_j - log S_j. c_j is the column's largest logit (banded matmul and max, no exp), so
  e^c_j <= Z_j <= N e^c_j: A_j >= 1/2 and S_j >= 1/(N + 1), neither can underflow. (A sampled max is not enough:
  RNAN's logits span hundreds, and a missed peak underflows S_j.)
- **The output.** Append 1 to each query and -lse_j to each key, so the logits become f_ij - lse_j <= 0, and add a
  sink key of logit 0 carrying an indicator value column. The kernel returns Y_i / (1 + W_i) and 1 / (1 + W_i),
  with Y_i the wanted output and W_i = sum_j exp(f_ij - lse_j) <= N, so Y_i is their ratio.

The kernel's tiles also avoid the banded path's large intermediate bands and their subnormal exp values. Measured
by ``benchmarks/bench_nonlocal_paths.py`` on one thread (a set-up job on the other core): a random 128x128 input
(N = 16,384, 16 channels) 4.3 s banded, 2.1 s fused; rnan-compact x2 on Set5's bird (144x144 LR) 44.3 s banded,
9.0 s fused (4.9x), outputs equal to 5e-7 of their range. ``band=`` still selects the banded path.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.blocks.traceable import use_traceable_paths

# Default size of one band of the attention matrix; small enough to stay cache/RAM friendly, large
# enough that the per-band matmuls stay efficient.
DEFAULT_BAND_BYTES = 64 * 2**20


def _band_size(batch: int, positions: int, element_size: int, band_bytes: int) -> int:
    return max(1, band_bytes // max(1, batch * positions * element_size))


def query_softmax_attention(query: Tensor, key: Tensor, value: Tensor, band: int | None = None) -> Tensor:
    """``softmax(query^T key, dim=query axis) @ value`` without forming the (N x N) matrix.

    ``query`` and ``key`` are (B, E, N) (channels first, as the 1x1 convs produce them), ``value`` is
    (B, N, D). Without gradients: the fused-kernel path by default, or bands of ``band`` rows/columns of the logit
    matrix when ``band`` is given. When autograd records (training) or a graph is being exported (the band count
    depends on the size, see :mod:`restore.blocks.traceable`), the matrix is formed whole (see the module doc):
    an exported graph needs (B N^2) floats twice for it.

    Shape: (B, E, N), (B, E, N), (B, N, D) -> (B, N, D).
    """
    recording = torch.is_grad_enabled() and any(t.requires_grad for t in (query, key, value))
    if recording or use_traceable_paths():
        return torch.bmm(torch.softmax(torch.bmm(query.transpose(1, 2), key), dim=1), value)
    query_rows = query.transpose(1, 2)
    if band is None:
        return _fused_attend(query_rows, key, value, _fused_column_logsumexp(query_rows, key))
    return _banded_attend(query_rows, key, value, _banded_columns(query_rows, key, torch.logsumexp, band), band)


def _banded_columns(query_rows: Tensor, key: Tensor, reduce, band: int | None = None) -> Tensor:
    """``reduce`` over the query axis of q_i . k_j, a band of key columns at a time. (B, N, E), (B, E, M) -> (B, M)."""
    batch, positions, _ = query_rows.shape
    band = band or _band_size(batch, positions, query_rows.element_size(), DEFAULT_BAND_BYTES)
    columns = key.shape[2]
    reduced = query_rows.new_empty(batch, columns)
    for start in range(0, columns, band):
        reduced[:, start : start + band] = reduce(torch.bmm(query_rows, key[:, :, start : start + band]), dim=1)
    return reduced


def _banded_attend(query_rows: Tensor, key: Tensor, value: Tensor, column_lse: Tensor, band: int) -> Tensor:
    bands = []
    for start in range(0, query_rows.shape[1], band):
        stop = min(start + band, query_rows.shape[1])
        weights = torch.bmm(query_rows[:, start:stop], key).sub_(column_lse.unsqueeze(1)).exp_()
        bands.append(torch.bmm(weights, value))
    return torch.cat(bands, dim=1)


def _attention_with_sink(queries: Tensor, keys: Tensor, values: Tensor, sink_key: Tensor) -> Tensor:
    """Key-softmax attention (scale 1) over ``keys`` plus one sink key whose value is an extra indicator column.

    Returns (B, N, D + 1): the last column is the sink's share of each query's softmax mass.
    Shape: (B, N, E), (B, M, E), (B, M, D), (E,) -> (B, N, D + 1).
    """
    batch, positions, width = values.shape[0], keys.shape[1], values.shape[2]
    keys = torch.cat([keys, sink_key.expand(batch, 1, -1)], dim=1)
    # The fused kernel needs values as wide as the queries; pad with zero columns.
    padded = values.new_zeros(batch, positions + 1, max(width + 1, queries.shape[2]))
    padded[:, :positions, :width] = values
    padded[:, positions, width] = 1
    attended = F.scaled_dot_product_attention(queries.unsqueeze(1), keys.unsqueeze(1), padded.unsqueeze(1), scale=1.0)
    return attended.squeeze(1)[..., : width + 1]


def _fused_column_logsumexp(query_rows: Tensor, key: Tensor) -> Tensor:
    """lse_j = logsumexp_i (q_i . k_j) through the fused kernel, centred on each column's max (module doc)."""
    batch, positions, channels = query_rows.shape
    columns = key.transpose(1, 2)
    centre = _banded_columns(query_rows, key, torch.amax)  # a matmul and a max per band, no exp
    queries = torch.cat([columns, centre.unsqueeze(2)], dim=2)
    keys = torch.cat([query_rows, query_rows.new_zeros(batch, positions, 1)], dim=2)
    sink = query_rows.new_zeros(channels + 1)
    sink[channels] = 1  # its logit is each column's centre
    shares = _attention_with_sink(queries, keys, query_rows.new_ones(batch, positions, 1), sink)
    return centre + shares[..., 0].log() - shares[..., 1].log()


def _fused_attend(query_rows: Tensor, key: Tensor, value: Tensor, column_lse: Tensor) -> Tensor:
    batch, positions, channels = query_rows.shape
    queries = torch.cat([query_rows, query_rows.new_ones(batch, positions, 1)], dim=2)
    keys = torch.cat([key.transpose(1, 2), -column_lse.unsqueeze(2)], dim=2)
    attended = _attention_with_sink(queries, keys, value, query_rows.new_zeros(channels + 1))
    return attended[..., :-1] / attended[..., -1:]


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
