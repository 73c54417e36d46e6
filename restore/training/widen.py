"""Start a wider network from a trained narrower one of the same layout, computing the same function at step 0.

Every tensor of the narrow network goes into the leading slice of the wide one's (for a convolution feeding a
PixelShuffle, into the output channels that land on the narrow network's feature channels). Weights from the new
input channels into the old output channels are zero, so the old channels compute exactly what they did; the new
channels start from the wide network's own initialisation. Nothing is frozen: the zero weights get gradients as
soon as the new channels carry signal, so the whole wide network trains on from the narrow one's quality instead
of from scratch (the function-preserving growth of Net2Net, Chen et al. 2016, with zero padding for the old
outputs in place of its replicated units).

This holds for networks whose channel spaces are ordered alike (residual and attention branches, as in RCAN); a
network that concatenates feature maps (RDN's dense blocks) puts the old channels elsewhere. So the wide network
is checked against the narrow one on a random input before training starts, and a mismatch is an error.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from restore.errors import RestoreError


def _pixel_shuffle_convs(model: nn.Module) -> dict[str, int]:
    """Module name -> r^2 of every convolution whose output goes straight into a PixelShuffle(r)."""
    found = {}
    for name, module in model.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (child, layer), (_, after) in zip(children, children[1:]):
            if isinstance(layer, nn.Conv2d) and isinstance(after, nn.PixelShuffle):
                found[f"{name}.{child}" if name else child] = after.upscale_factor ** 2
    return found


def _old_outputs(narrow: int, wide: int, shuffle: int | None) -> torch.Tensor:
    """Indices, among the wide tensor's outputs, of the narrow tensor's ``narrow`` outputs, in order."""
    if shuffle is None:
        return torch.arange(narrow)
    # PixelShuffle(r) takes channel c's sub-pixel k from input channel c * r^2 + k.
    channels = torch.arange(narrow // shuffle)
    return (channels[:, None] * shuffle + torch.arange(shuffle)[None, :]).reshape(-1)


def widened_state(model: nn.Module, narrow: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The wide ``model``'s state dict with ``narrow`` embedded (see the module docstring)."""
    own = model.state_dict()
    problems = sorted(set(own) ^ set(narrow))
    problems += [key for key in own if key in narrow and (narrow[key].ndim != own[key].ndim or any(
        small > big for small, big in zip(narrow[key].shape, own[key].shape)))]
    if problems:
        raise RestoreError(f"cannot widen: the narrow weights do not have this network's layout "
                           f"({', '.join(problems[:10])})")
    shuffled = _pixel_shuffle_convs(model)
    state = {}
    for key, wide in own.items():
        small = narrow[key].to(wide.dtype)
        if small.shape == wide.shape:
            state[key] = small.clone()
            continue
        value = wide.clone()
        outputs = _old_outputs(small.shape[0], wide.shape[0], shuffled.get(key.rpartition(".")[0]))
        rows = value[outputs]
        if value.ndim > 1:
            rows[:, small.shape[1]:] = 0  # the old outputs ignore the new inputs
            rows[:, :small.shape[1]] = small
        else:
            rows = small
        value[outputs] = rows
        state[key] = value
    return state


def widen_from(model: nn.Module, narrow: Mapping[str, torch.Tensor], build_narrow: Callable[[], nn.Module],
               log: Callable[[str], None] = print) -> None:
    """Load ``narrow`` into the wider ``model`` and check that both compute the same on a random input."""
    model.load_state_dict(widened_state(model, narrow), strict=True)
    reference = build_narrow()
    reference.load_state_dict(narrow, strict=True)
    generator = torch.Generator().manual_seed(0)
    probe = torch.rand(1, 3, 20, 20, generator=generator) * 255
    was_training = model.training
    model.eval()
    reference.eval()
    with torch.no_grad():
        expected, got = reference(probe), model(probe)
    model.train(was_training)
    error = (got - expected).abs().max().item()
    if error > 1e-4 * max(1.0, expected.abs().max().item()):
        raise RestoreError(f"cannot widen this network by embedding: the wide network's output differs from the "
                           f"narrow one's by {error:.3g} (its feature maps are concatenated, not summed?)")
    narrow_params = sum(tensor.numel() for tensor in narrow.values())
    wide_params = sum(tensor.numel() for tensor in model.state_dict().values())
    log(f"widened {narrow_params:,} -> {wide_params:,} parameters; same output at step 0 (max difference {error:.2g})")
