"""``stylize``: SANet style transfer of one content image, with alpha, colour preservation, style mixing
and per-region styles.

Everything that blends happens on the transformed relu4_1-resolution features, before the decoder:

- alpha: ``alpha · T(c, s) + (1 - alpha) · T(c, c)``, and, unless ``content_residual=False``, the decoder's
  reconstruction error added back in proportion: ``+ (1 - alpha) · (c - D(T(c, c)))``. The decoder alone
  reconstructs a content at 15-17 dB (docs/style.md), so without the residual alpha 0 gave a blurred, greyed
  copy, not the content; with it alpha 0 is the content and every alpha keeps its share of the content's detail;
- several styles: ``Σ_k w_k · T(c, s_k)`` with the weights normalised to sum 1;
- masks: ``Σ_k m_k · T(c, s_k)`` with the masks area-averaged to feature resolution and normalised per
  position, so each region is decoded from its own style's features.

Colour preservation keeps the content's chroma: the output's BT.601 luma with the content's Cb and Cr.

Borders: the VGG-16 encoder zero-pads every convolution, so within ~66 pixels of an edge its features see
black beyond the picture, and the attention paints those edge features as strokes of the painting: a frame
of bands along every border (issue 22: "Starry Night leaves bands along the top edge"). The content is
therefore reflection-padded by ``ENCODER_HALO`` on every side before encoding, and the margin is cropped
off again (all but the decoder's own halo before decoding, the rest after), so every output pixel is
computed as if the picture went on.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from restore.archs.sanet import DECODER_HALO, ENCODER_HALO, IMAGE_MULTIPLE, SANet, band_spans, pad_to_multiple
from restore.errors import DataError
from restore.io.image import read_image
from restore.metrics.color import rgb_to_ycbcr, ycbcr_to_rgb
from restore.style.data import image_tensor

ImageInput = Union[str, os.PathLike, np.ndarray]
MaskInput = Union[np.ndarray, Sequence[np.ndarray]]

# Without ``size``, styles larger than this are scaled down: style attention costs memory and time in
# proportion to the style's pixel count, and the brushwork is already resolved at this size.
STYLE_MAX_SIDE = 1024
# Without the reflected margin, a content of 16 pixels or fewer crashed the padding or decoded to a black
# image (its relu5_1 was a single position). The margin removed that failure (a 2x2 content now renders); the
# floor stays as documented (docs/security.md): such a picture is almost all its own reflections.
CONTENT_MIN_SIDE = 17
# Image rows per band of the banded encoder (and, divided by IMAGE_MULTIPLE, of the decoder); the result does
# not depend on it, memory does.
BAND_ROWS = 256


def reflect_margin(image: Tensor, margin: int) -> Tensor:
    """Reflection-pad every side by ``margin``; a side shorter than the margin is reflected again and again.

    Shape: (B, C, H, W) with H, W >= 2 -> (B, C, H + 2 margin, W + 2 margin).
    """
    rows, columns = margin, margin
    while rows or columns:
        step_rows, step_columns = min(rows, image.shape[-2] - 1), min(columns, image.shape[-1] - 1)
        image = F.pad(image, (step_columns, step_columns, step_rows, step_rows), mode="reflect")
        rows, columns = rows - step_rows, columns - step_columns
    return image


def band_joints(height: int, band_rows: int = BAND_ROWS) -> dict[str, list[int]]:
    """The output rows where two bands meet, for a content ``height`` rows high: "encoder" joints (bands of the
    padded content, which starts ``ENCODER_HALO`` rows above the output) and "decoder" joints (bands of the
    cropped features, which start ``DECODER_HALO`` feature rows above it). Where a seam would show; none
    where a pass fits in one band."""
    encoder = band_spans(padded_rows(height), band_rows, ENCODER_HALO)[1:]
    decoder = band_spans(decoded_rows(height), band_rows // IMAGE_MULTIPLE, DECODER_HALO)[1:]
    rows = {"encoder": [start - ENCODER_HALO for start, *_ in encoder],
            "decoder": [(start - DECODER_HALO) * IMAGE_MULTIPLE for start, *_ in decoder]}
    return {name: [row for row in found if 0 < row < height] for name, found in rows.items()}


def padded_rows(side: int) -> int:
    """Rows (or columns) of a content side with its reflected margin, padded to a multiple of 8: what the
    encoder reads."""
    return -(-(side + 2 * ENCODER_HALO) // IMAGE_MULTIPLE) * IMAGE_MULTIPLE


def decoded_rows(side: int) -> int:
    """Feature rows (or columns) the decoder reads for a content side: its cells and the decoder's halo."""
    return -(-side // IMAGE_MULTIPLE) + 2 * DECODER_HALO


def _padded_content(image: Tensor) -> Tensor:
    """The content with its reflected margin, bottom/right padded to a multiple of 8. Shape: (B, C, H, W) ->
    (B, C, H', W'); the content's first pixel is at (ENCODER_HALO, ENCODER_HALO)."""
    return pad_to_multiple(reflect_margin(image, ENCODER_HALO), IMAGE_MULTIPLE)


def _as_rgb_uint8(image: ImageInput, role: str) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        array = read_image(image)
    else:
        array = np.asarray(image)
        if array.dtype != np.uint8:
            raise DataError(f"{role} array must be uint8, got {array.dtype}")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise DataError(f"{role} must be (H, W, 3) or greyscale, got shape {array.shape}")
    if array.shape[0] < 2 or array.shape[1] < 2:
        raise DataError(f"{role} is too small ({array.shape[0]}x{array.shape[1]}); at least 2x2 pixels")
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array


def long_side_shape(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(height, width) scaled so the long side is ``long_side``, at least 2 pixels each."""
    factor = long_side / max(height, width)
    return max(2, round(height * factor)), max(2, round(width * factor))


def style_long_side(height: int, width: int, size: int | None) -> int:
    """The long side a style is rendered at: ``size`` when given, else its own, at most ``STYLE_MAX_SIDE``."""
    return size if size is not None else min(STYLE_MAX_SIDE, max(height, width))


def _resize_long_side(array: np.ndarray, long_side: int) -> np.ndarray:
    height, width = long_side_shape(*array.shape[:2], long_side)
    if (height, width) == array.shape[:2]:
        return array
    return np.array(Image.fromarray(array).resize((width, height), Image.BICUBIC))


def _region_weights(mask: MaskInput, n_styles: int, shape: tuple[int, int], feature_shape: tuple[int, int]) -> Tensor:
    """Per-style weights at feature resolution, summing to 1 at every position. Shape: -> (K, 1, h, w)."""
    if isinstance(mask, np.ndarray) and mask.ndim == 2 and np.issubdtype(mask.dtype, np.integer):
        labels = torch.from_numpy(mask.astype(np.int64))
        if labels.min() < 0 or labels.max() >= n_styles:
            raise ValueError(f"mask labels must lie in [0, {n_styles - 1}] for {n_styles} styles")
        masks = F.one_hot(labels, n_styles).permute(2, 0, 1).float()
    else:
        masks = torch.stack([torch.as_tensor(np.asarray(m, dtype=np.float32)) for m in mask])
        if masks.dim() != 3 or masks.shape[0] != n_styles:
            raise ValueError(f"give one (H, W) mask per style: {n_styles} styles, masks of shape {tuple(masks.shape)}")
    if tuple(masks.shape[1:]) != shape:
        raise ValueError(f"mask size {tuple(masks.shape[1:])} differs from the content size {shape}")
    padded = _padded_content(masks[None])
    pooled = F.adaptive_avg_pool2d(padded, feature_shape)[0].clamp_min(0)
    total = pooled.sum(dim=0, keepdim=True)
    # Positions no mask covers fall back to an even mix instead of decoding zero features.
    pooled = torch.where(total > 0, pooled / total.clamp_min(1e-12), torch.full_like(pooled, 1.0 / n_styles))
    return pooled[:, None]


def _normalised_weights(style_weights: Sequence[float] | None, n_styles: int) -> list[float]:
    if style_weights is None:
        return [1.0 / n_styles] * n_styles
    weights = [float(w) for w in style_weights]
    if len(weights) != n_styles:
        raise ValueError(f"{len(weights)} style weights for {n_styles} styles")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("style weights must be non-negative with a positive sum")
    return [w / sum(weights) for w in weights]


def _preserve_colour(output: Tensor, content: Tensor) -> Tensor:
    """Output luma with content chroma. Shape: (1, 3, H, W) x2 in [0, 255] -> (1, 3, H, W)."""
    output_ycc, content_ycc = rgb_to_ycbcr(output), rgb_to_ycbcr(content)
    return ycbcr_to_rgb(torch.cat([output_ycc[:, :1], content_ycc[:, 1:]], dim=1))


def _resolve_model(model: SANet | str | os.PathLike | None) -> SANet:
    if isinstance(model, SANet):
        return model
    from restore.style.models import load_style_model

    return load_style_model(model)


def stylize(
    content: ImageInput,
    style_or_styles: ImageInput | Sequence[ImageInput],
    alpha: float = 1.0,
    preserve_color: bool = False,
    style_weights: Sequence[float] | None = None,
    mask: MaskInput | None = None,
    size: int | None = None,
    model: SANet | str | os.PathLike | None = None,
    band_rows: int = BAND_ROWS,
    content_residual: bool = True,
) -> np.ndarray:
    """Render ``content`` in the style of one or several style images; return uint8 (H, W, 3).

    ``content`` and styles are uint8 arrays (H, W, 3), greyscale arrays, or image paths. ``alpha`` in
    [0, 1] blends stylised and reconstructed content features. ``style_weights`` mixes several styles
    (default: equal); ``mask`` instead gives each style a region: an (H, W) int label map (label k ->
    style k) or a list of (H, W) float masks, one per style. ``size`` resizes the content so its long
    side is ``size`` (styles too); otherwise the content keeps its size and styles longer than
    ``STYLE_MAX_SIDE`` are scaled down. ``model``: a SANet, a style-model file, or None for the default
    zoo model (WeightsError, saying how to get it, when absent). ``band_rows``: image rows per band of the
    banded encoder and decoder (a multiple of 16); the output does not depend on it, the memory does.
    ``content_residual``: at alpha < 1, add ``(1 - alpha)`` times what the decoder loses reconstructing the
    content (alpha 0 returns the content); False gives the plain feature blend of the AdaIN paper.
    """
    if band_rows < 16 or band_rows % 16:
        raise ValueError(f"band_rows must be a positive multiple of 16, got {band_rows}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if mask is not None and style_weights is not None:
        raise ValueError("give either style_weights (a global mix) or mask (one style per region), not both")
    is_single = isinstance(style_or_styles, (str, os.PathLike, np.ndarray))
    style_inputs = [style_or_styles] if is_single else list(style_or_styles)
    if not style_inputs:
        raise ValueError("at least one style image is needed")
    content_array = _as_rgb_uint8(content, "content")
    if size is not None:
        content_array = _resize_long_side(content_array, size)
    style_arrays = []
    for index, style in enumerate(style_inputs):
        array = _as_rgb_uint8(style, f"style {index}" if not isinstance(style, (str, os.PathLike)) else str(style))
        style_arrays.append(_resize_long_side(array, style_long_side(*array.shape[:2], size)))
    network = _resolve_model(model)
    device = next(network.parameters()).device
    height, width = content_array.shape[:2]
    if min(height, width) < CONTENT_MIN_SIDE:
        raise DataError(f"the content image is {width}x{height}; style transfer needs at least "
                        f"{CONTENT_MIN_SIDE}x{CONTENT_MIN_SIDE} pixels (resize it, e.g. with --size or size=, or upscale it first)")

    if alpha == 0 and content_residual:  # D(T(c, c)) + (c - D(T(c, c))): the content itself
        return content_array.copy()
    with torch.inference_mode():
        content_image = image_tensor(content_array).to(device)
        content_taps = network.encode_in_bands(_padded_content(content_image), band=band_rows)
        features = 0.0
        if alpha > 0:
            stylised = [
                network.transform(content_taps, network.encode_in_bands(image_tensor(style).to(device), band=band_rows))
                for style in style_arrays
            ]
            if mask is not None:
                weights = _region_weights(mask, len(stylised), (height, width), tuple(stylised[0].shape[-2:]))
                mixed = sum(w.to(device) * f for w, f in zip(weights, stylised))
            else:
                mixed = sum(w * f for w, f in zip(_normalised_weights(style_weights, len(stylised)), stylised))
            features = alpha * mixed
        if alpha < 1:
            own = network.transform(content_taps, content_taps)
            features = features + (1.0 - alpha) * own

        def decode(transformed: Tensor) -> Tensor:
            # Keep the decoder's halo of the margin's features, so the content's edge pixels decode from real
            # neighbours rather than the decoder's own padding; its rows are cropped off after decoding.
            first = ENCODER_HALO // IMAGE_MULTIPLE - DECODER_HALO
            rows, columns = decoded_rows(height), decoded_rows(width)
            transformed = transformed[..., first : first + rows, first : first + columns]
            decoded = network.decode_in_bands(transformed, band=band_rows // IMAGE_MULTIPLE)
            offset = DECODER_HALO * IMAGE_MULTIPLE
            return decoded[..., offset : offset + height, offset : offset + width]

        output = decode(features)
        if alpha < 1 and content_residual:
            output = output + (1.0 - alpha) * (content_image - decode(own))
        output = output.clamp(0, 1) * 255.0
        if preserve_color:
            output = _preserve_colour(output, content_image * 255.0)
        pixels = output[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    return pixels
