"""Style transfer by optimising the pixels (Gatys et al., CVPR 2016): no trained decoder, the quality yardstick.

The image itself is the variable: starting from the content photo (plus a little seeded noise), L-BFGS lowers
the same losses SANet is trained with, on the same frozen ImageNet VGG-16 (``restore.style.losses``):

- content: MSE of the mean-variance-normalised relu4_1 and relu5_1 maps against the content photo's;
- style: MSE of the channel means and standard deviations of relu1_1 .. relu5_1 against the painting's.

Each tap is divided by its mean activation over the content and the painting at that scale (one number per
layer), so every layer speaks in the loss (raw VGG-16 taps would give relu1_1, the colours, ~1% of it).

Coarse to fine: the image is solved with its long side at 128 pixels, then upsampled and refined at twice the
size, up to the requested size; most iterations run where they are cheap. The painting is resized with the
content at each scale, so its brush strokes keep their size relative to the picture.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from restore.archs.sanet import VGG16Encoder
from restore.style import losses
from restore.style.data import image_tensor
from restore.style.stylize import STYLE_MAX_SIDE, ImageInput, _as_rgb_uint8, _preserve_colour, long_side_shape

__all__ = ["optimize_stylize", "optimize_plan", "scale_plan", "DEFAULT_ITERATIONS", "EVALUATIONS_PER_ITERATION"]

FIRST_SIDE = 128
# L-BFGS iterations at the first (128-pixel) scale, then at each finer one; the image only needs refining
# once its layout is found, and a 512-pixel iteration costs 16 of the first scale's. At (150, 60) a 512-pixel
# picture took 269 CPU-s on one core; (150, 30) keeps it near 2.5 CPU-minutes (docs/style.md).
DEFAULT_ITERATIONS = (150, 30)
CONTENT_WEIGHT = 1.0
# Measured on held-out pairs (docs/style.md): at 10 the palette and strokes take the painting's while
# buildings and faces stay readable.
STYLE_WEIGHT = 10.0
NOISE = 0.05  # std of the seeded noise added to the content photo at the start; it seeds brush texture
# L-BFGS restarts (and the pixels are clamped to [0, 1]) every this many iterations.
CLAMP_EVERY = 25

# torch's L-BFGS evaluates the loss at most 1.25x per iteration (its default max_eval).
EVALUATIONS_PER_ITERATION = 1.25

Progress = Callable[[int, int], None]


def scale_plan(long_side: int, first: int = FIRST_SIDE) -> list[int]:
    """Long sides of the coarse-to-fine scales: ``first``, doubled while below ``long_side``, then ``long_side``.

    >>> scale_plan(512), scale_plan(700), scale_plan(100)
    ([128, 256, 512], [128, 256, 512, 700], [100])
    """
    sides = []
    side = first
    while side < long_side:
        sides.append(side)
        side *= 2
    return sides + [long_side]


def _layer_scales(*tap_sets: list[Tensor]) -> list[Tensor]:
    """Each tap's mean activation over all the given images: one scalar per layer. Shape: -> 5 x (1,)."""
    return [torch.stack([taps[tap].mean() for taps in tap_sets]).mean().clamp_min(1e-6).view(1)
            for tap in range(len(tap_sets[0]))]


def _resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic resize, clamped to [0, 1]. Shape: (1, 3, H, W) -> (1, 3, *size)."""
    if tuple(image.shape[-2:]) == size:
        return image
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def optimize_plan(height: int, width: int, size: int | None = None, iterations: Sequence[int] = DEFAULT_ITERATIONS,
                  first_side: int = FIRST_SIDE) -> list[tuple[tuple[int, int], int]]:
    """The (height, width) and L-BFGS iteration budget of every scale ``optimize_stylize`` solves, coarse to
    fine, for a content of ``height`` x ``width`` rendered at long side ``size`` (None: its own).

    >>> optimize_plan(300, 400, size=512)
    [((96, 128), 150), ((192, 256), 30), ((384, 512), 30)]
    """
    long_side = size if size is not None else max(height, width)
    if size is not None:
        height, width = long_side_shape(height, width, size)
    sides = scale_plan(long_side, first_side)
    budgets = [iterations[0]] + [iterations[1]] * (len(sides) - 1)
    return [((height, width) if side == long_side else long_side_shape(height, width, side), budget)
            for side, budget in zip(sides, budgets)]


def optimize_stylize(
    content: ImageInput,
    style: ImageInput,
    size: int | None = None,
    iterations: Sequence[int] = DEFAULT_ITERATIONS,
    content_weight: float = CONTENT_WEIGHT,
    style_weight: float = STYLE_WEIGHT,
    seed: int = 0,
    preserve_color: bool = False,
    progress: Progress | None = None,
    encoder: VGG16Encoder | None = None,
    first_side: int = FIRST_SIDE,
) -> np.ndarray:
    """Render ``content`` in the style of ``style`` by optimising the pixels; return uint8 (H, W, 3).

    ``content`` and ``style`` are uint8 arrays (H, W, 3), greyscale arrays, or image paths. ``size`` sets the
    content's long side (default: its own); the painting follows the content's long side at every scale (at
    most ``STYLE_MAX_SIDE``). ``iterations``: L-BFGS iterations at the first scale and at each later one.
    ``seed`` fixes the starting noise, so a call is deterministic on one machine. ``preserve_color`` keeps the
    content's chroma (the result's luma with the content's Cb/Cr, as ``stylize``). ``progress(done, total)`` is
    called after every loss evaluation (line searches make a few more than iterations; total is the budget).
    ``encoder``: a built VGG-16 encoder to reuse across calls (default: built here; WeightsError with the
    fetch command when its weights are not cached). ``first_side``: the long side of the coarsest scale.

    Cost grows with the pixel count: one 512-pixel iteration is about 16 at 128 (docs/style.md has timings).
    """
    if len(iterations) != 2 or min(iterations) < 1:
        raise ValueError(f"iterations must be two positive counts (first scale, later scales), got {iterations}")
    if content_weight < 0 or style_weight < 0 or content_weight + style_weight == 0:
        raise ValueError("content_weight and style_weight must be non-negative, not both zero")
    content_array = _as_rgb_uint8(content, "content" if not isinstance(content, (str, os.PathLike)) else str(content))
    style_array = _as_rgb_uint8(style, "style" if not isinstance(style, (str, os.PathLike)) else str(style))
    plan = optimize_plan(*content_array.shape[:2], size, iterations, first_side)
    height, width = plan[-1][0]
    if encoder is None:
        from restore.style.build import build_vgg16_encoder

        encoder = build_vgg16_encoder()
    device = next(encoder.parameters()).device
    content_full = image_tensor(content_array).to(device)
    style_full = image_tensor(style_array).to(device)
    total = sum(int(budget * EVALUATIONS_PER_ITERATION) for _, budget in plan)
    done = 0
    generator = torch.Generator().manual_seed(seed)
    image: Tensor | None = None
    for shape, budget in plan:
        content_image = _resize(content_full, shape)
        style_side = min(max(shape), STYLE_MAX_SIDE)
        style_image = _resize(style_full, long_side_shape(*style_full.shape[-2:], style_side))
        if image is None:
            noise = torch.randn(content_image.shape, generator=generator).to(device) * NOISE
            image = (content_image + noise).clamp(0, 1)
        else:
            image = _resize(image, shape)
        image, evaluations = _solve(encoder, image, content_image, style_image, budget, content_weight, style_weight,
                                    lambda count: progress(done + count, total) if progress else None)
        done += int(budget * EVALUATIONS_PER_ITERATION)
        if progress:
            progress(done, total)
    output = image * 255.0
    if preserve_color:
        output = _preserve_colour(output, _resize(content_full, (height, width)) * 255.0)
    return output[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def _solve(encoder: VGG16Encoder, start: Tensor, content: Tensor, style: Tensor, budget: int,
           content_weight: float, style_weight: float, tick: Callable[[int], None]) -> tuple[Tensor, int]:
    """L-BFGS on the pixels for ``budget`` iterations at one scale. Shape: (1, 3, H, W) x3 -> (1, 3, H, W)."""
    with torch.no_grad():
        content_taps, style_taps = encoder.taps(content), encoder.taps(style)
        scales = _layer_scales(content_taps, style_taps)
        content_targets = [tap / scale for tap, scale in zip(content_taps, scales)]
        style_targets = losses.style_statistics([tap / scale for tap, scale in zip(style_taps, scales)])
    image = start.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    evaluations = 0

    def closure() -> Tensor:
        nonlocal evaluations
        optimizer.zero_grad(set_to_none=True)
        taps = [tap / scale for tap, scale in zip(encoder.taps(image), scales)]
        loss = (content_weight * losses.content_loss(taps, content_targets)
                + style_weight * losses.style_distance(losses.style_statistics(taps), style_targets))
        loss.backward()
        evaluations += 1
        tick(evaluations)
        return loss

    remaining = budget
    while remaining > 0:
        chunk = min(CLAMP_EVERY, remaining)
        optimizer = torch.optim.LBFGS([image], lr=1.0, max_iter=chunk, history_size=20,
                                      line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0)
        optimizer.step(closure)
        with torch.no_grad():
            image.clamp_(0, 1)
        remaining -= chunk
    return image.detach(), evaluations
