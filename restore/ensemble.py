"""Geometric self-ensemble (the EDSR/RCAN ``forward_x8``), averaged per image."""
from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

# The dihedral group of the square: 4 rotations x optional flip, each one forward pass of the network.
ENSEMBLE_PASSES = 8


def _transform(x: Tensor, index: int) -> Tensor:
    """Dihedral transform number ``index``: bit 0 flips W, bit 1 flips H, bit 2 swaps H and W, in that order.

    The numbering is the official ``forward_x8`` list order.
    """
    if index & 1:
        x = x.flip(-1)
    if index & 2:
        x = x.flip(-2)
    if index & 4:
        x = x.transpose(-2, -1)
    return x


def _undo_transform(y: Tensor, index: int) -> Tensor:
    """Inverse of :func:`_transform`: the same operations in reverse order."""
    if index & 4:
        y = y.transpose(-2, -1)
    if index & 2:
        y = y.flip(-2)
    if index & 1:
        y = y.flip(-1)
    return y


def self_ensemble(model: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Run ``model`` on the 8 flips/transposes of ``x``, undo each, and average.

    Each batch item gets the mean of its own 8 predictions. The official ``forward_x8`` averaged over the
    whole concatenated batch (returning a single image for B > 1); its results equal ours when run one
    image at a time, which is how the official test loader (batch size 1) used it.

    The transforms run one after another rather than as one 8x batch, so peak memory is that of a single
    forward plus the running sum. Gradient tracking follows the caller's context (wrap the call in
    ``torch.inference_mode()`` for inference).

    Shape: (B, C, H, W) -> (B, C_out, s*H, s*W), where ``model`` maps (B, C, H, W) -> (B, C_out, s*H, s*W).
    """
    if x.dim() != 4:
        raise ValueError(f"self_ensemble expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    # Cloned so the in-place accumulation never writes into a tensor the model may still hold.
    total = model(x).clone()
    for index in range(1, ENSEMBLE_PASSES):
        total.add_(_undo_transform(model(_transform(x, index).contiguous()), index))
    return total / ENSEMBLE_PASSES
