"""The switch between a block's fast eager path and its plain-ops path for graph export.

Some fast paths cannot become a graph with free height and width: RNAN's fused non-local attention loops
over bands whose count depends on the input size, and several blocks branch in Python on the size (odd
sides, tiny quadrants, SAN's covariance window). Traced with dynamic shapes, such code is either refused or,
worse, frozen at the example's size. Each of those blocks therefore has a second path of plain tensor ops
with the same outputs for every size, taken while ``torch.export`` (and so ``torch.onnx.export``) traces,
or inside :func:`traceable` (which the ONNX exporter and the equality tests use).
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch

_FORCED: contextvars.ContextVar[bool] = contextvars.ContextVar("restore_traceable_paths", default=False)


def use_traceable_paths() -> bool:
    """Whether blocks should take their plain-ops (exportable) path now."""
    return _FORCED.get() or torch.compiler.is_exporting()


@contextlib.contextmanager
def traceable() -> Iterator[None]:
    """Within the block, every block takes its plain-ops path, also in eager mode."""
    token = _FORCED.set(True)
    try:
        yield
    finally:
        _FORCED.reset(token)
