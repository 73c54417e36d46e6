"""What one forward of a network holds in memory, as a function of its LR tile: the arch's half of tile planning.

Each :class:`~restore.archs.spec.ArchSpec` carries a ``memory`` function returning a :class:`MemoryModel`; the
engine (:mod:`restore.engine.memory`) weighs it against the free memory of the device to choose a tile. The
estimates are deliberately rough: activation elements per LR pixel times the element size, plus a quadratic
term for attention that materialises a (queries x keys) matrix. A tile that still does not fit is caught by
the engine's out-of-memory retry, so they only have to be right to within a factor of about two.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MemoryModel", "SAFETY_FACTOR", "image_elements", "plain_conv_net", "upsampler_elements"]

# The estimates are peaks of live activations; this covers what they leave out (weights, workspace of the
# conv algorithms, the input and output copies of the tile).
SAFETY_FACTOR = 1.5


@dataclass(frozen=True)
class MemoryModel:
    """Peak bytes of one forward: ``linear * pixels + quadratic * pixels**2 + constant`` per batch item.

    ``pixels`` is the LR pixel count of the tile. ``linear`` covers convolutional feature maps,
    ``quadratic`` attention matrices over all positions, ``constant`` fixed-size buffers.
    """

    linear: float
    quadratic: float = 0.0
    constant: float = 0.0
    # A side beyond which tiles only get slower, whatever the memory (None: no such limit).
    max_tile: int | None = None

    def bytes_for(self, height: int, width: int, batch: int = 1) -> float:
        pixels = float(height) * float(width)
        per_item = self.linear * pixels + self.quadratic * pixels * pixels + self.constant
        return SAFETY_FACTOR * batch * per_item


def image_elements(scale: int) -> int:
    """Elements per LR pixel of the input, the output and the float copy made on the way out."""
    return 3 * (1 + 2 * scale * scale)


def upsampler_elements(scale: int, n_feats: int) -> int:
    """Elements per LR pixel of a PixelShuffle upsampler at its peak.

    At x4 its last conv output (``4 * n_feats`` channels at half the output resolution) and the shuffled
    result (``n_feats`` channels at full resolution) are alive together: ``2 * s**2 * n_feats``.
    """
    return 2 * scale * scale * n_feats


def plain_conv_net(scale: int, n_feats: int, element_size: int) -> MemoryModel:
    """A residual conv trunk of ``n_feats`` channels and a PixelShuffle upsampler (RCAN's shape).

    The engine costs a network it knows nothing about (a user's module) this way, at 64 features.
    """
    return MemoryModel(linear=element_size * (6 * n_feats + upsampler_elements(scale, n_feats) + image_elements(scale)))
