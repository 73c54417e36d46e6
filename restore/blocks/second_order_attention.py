"""Second-order channel attention (SAN's SOCA): covariance pooling, Newton-Schulz square root, gate.

The official ``Covpool`` builds an (HW)x(HW) centring matrix (1.45 GB in float32 for a 138x138 patch);
here the covariance is the centred ``Xc Xc^T / M`` product, which is the same matrix (measured 9.4e-16
relative in float64) at C x C cost.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from restore.blocks.traceable import use_traceable_paths

# The official SOCA looks at a window of at most this many rows/columns (see ``official_covariance_window``).
COVARIANCE_WINDOW = 1000


def official_covariance_window(x: Tensor, window: int = COVARIANCE_WINDOW) -> Tensor:
    """The region SAN's SOCA computes its covariance over, reproduced branch for branch.

    The official code crops a central ``window``-wide band when a side exceeds it, but its tests use
    strict ``<`` and ``>``: a side of exactly ``window`` falls into the "crop both" branch, where the
    other side's start ``(side - window) // 2`` can be negative. Python slicing then counts that start
    from the end, so e.g. H=500, W=1000 keeps rows 250..499 only. That is kept, because it is what the
    released weights were evaluated with.

    Shape: (B, C, H, W) -> (B, C, H', W').
    """
    height, width = x.shape[-2:]
    if height < window and width < window:
        return x
    if height < window and width > window:
        left = (width - window) // 2
        return x[:, :, :, left : left + window]
    if width < window and height > window:
        top = (height - window) // 2
        return x[:, :, top : top + window, :]
    top = (height - window) // 2
    left = (width - window) // 2
    return x[:, :, top : top + window, left : left + window]


def covariance_pool(x: Tensor) -> Tensor:
    """Per-sample channel covariance over all spatial positions, normalised by M = H*W (not M-1).

    Shape: (B, C, H, W) -> (B, C, C).
    """
    features = x.flatten(2)
    centred = features - features.mean(dim=2, keepdim=True)
    return torch.bmm(centred, centred.transpose(1, 2)) / features.shape[2]


def _window_range(length: Tensor, other: Tensor, window: int) -> tuple[Tensor, Tensor]:
    """[start, stop) of :func:`official_covariance_window` along one axis, from the two sides as int64 tensors.

    The axis is cut unless this side is below ``window`` and the other is not exactly ``window`` (the
    official "crop neither" and "crop the other only" branches). A cut is Python's slice
    ``[offset : offset + window]`` with ``offset = (length - window) // 2``, negative start included.
    """
    offset = torch.div(length - window, 2, rounding_mode="floor")
    cut = (length >= window) | (other == window)
    start = torch.where(offset >= 0, offset, (length + offset).clamp(min=0))
    stop = torch.minimum(offset + window, length)
    return torch.where(cut, start, torch.zeros_like(start)), torch.where(cut, stop, length)


def windowed_covariance_pool(x: Tensor, window: int = COVARIANCE_WINDOW) -> Tensor:
    """``covariance_pool(official_covariance_window(x, window))`` without a branch on the size.

    The window becomes a 0/1 mask over the positions, computed from the sides as tensors, so an exported graph
    reproduces every branch of the official crop at any size (see :mod:`restore.blocks.traceable`).

    Shape: (B, C, H, W) -> (B, C, C).
    """
    height, width = x.shape[-2:]
    sides = [torch.scalar_tensor(side, dtype=torch.int64, device=x.device) for side in (height, width)]
    row_start, row_stop = _window_range(sides[0], sides[1], window)
    col_start, col_stop = _window_range(sides[1], sides[0], window)
    rows = torch.arange(height, device=x.device)
    cols = torch.arange(width, device=x.device)
    inside_rows = (rows >= row_start) & (rows < row_stop)
    inside_cols = (cols >= col_start) & (cols < col_stop)
    mask = (inside_rows[:, None] & inside_cols[None, :]).flatten().to(x.dtype)
    count = mask.sum()
    features = x.flatten(2)
    mean = (features * mask).sum(dim=2, keepdim=True) / count
    centred = (features - mean) * mask
    return torch.bmm(centred, centred.transpose(1, 2)) / count


def sqrtm_newton_schulz(matrix: Tensor, iterations: int = 5) -> Tensor:
    """Square root of symmetric PSD matrices by the coupled Newton-Schulz iteration of MPNCOV's ``Sqrtm``.

    Same schedule as the official: normalise by the trace, a first step, ``iterations - 2`` middle steps,
    a final half step that produces Y only, then rescale by sqrt(trace). Buffers are in the input's dtype
    (the official allocated them in torch's default dtype, which breaks float64 models). A zero matrix
    (e.g. a 1x1 or constant feature map) gets the exact answer 0 where the official divides 0 by 0.

    Shape: (B, C, C) -> (B, C, C).
    """
    if iterations < 2:
        raise ValueError(f"Newton-Schulz needs at least 2 iterations, got {iterations}")
    size = matrix.shape[-1]
    trace = matrix.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    safe_trace = torch.where(trace > 0, trace, torch.ones_like(trace))
    normalised = matrix / safe_trace.view(-1, 1, 1)
    three_identity = 3.0 * torch.eye(size, dtype=matrix.dtype, device=matrix.device).expand_as(matrix)

    zy = 0.5 * (three_identity - normalised)
    y = normalised.bmm(zy)
    z = zy
    for _ in range(iterations - 2):
        zy = 0.5 * (three_identity - z.bmm(y))
        y, z = y.bmm(zy), zy.bmm(z)
    root = (0.5 * y).bmm(three_identity - z.bmm(y))
    return root * torch.sqrt(trace.clamp(min=0)).view(-1, 1, 1)


class SecondOrderChannelAttention(nn.Module):
    """SOCA: gate channels by the row means of the covariance square root.

    ``x * sigmoid(conv(relu(conv(mean_rows(sqrtm(cov(window(x))))))))``.
    Keys: ``conv_du.0`` (C -> C/r), ``conv_du.2`` (C/r -> C), the official layout.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 8, iterations: int = 5) -> None:
        super().__init__()
        self.iterations = iterations
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )

    def channel_weights(self, x: Tensor) -> Tensor:
        """Shape: (B, C, H, W) -> (B, C, 1, 1), values in (0, 1)."""
        if use_traceable_paths():
            covariance = windowed_covariance_pool(x)
        else:
            covariance = covariance_pool(official_covariance_window(x))
        cov_sqrt = sqrtm_newton_schulz(covariance, self.iterations)
        descriptor = cov_sqrt.mean(dim=1)
        return self.conv_du(descriptor.view(*descriptor.shape, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.channel_weights(x) * x
