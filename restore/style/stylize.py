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

Palette (issue 22): the decoder alone carries about two thirds of a painting's chroma and barely moves the
output's mean colour towards it (docs/style.md), so by default (``palette="painting"``) the decoded output's
per-channel mean and standard deviation in CIE L*a*b* are matched to the painting's (Reinhard et al., "Color
Transfer between Images", 2001; the colour control of Gatys et al., CVPR 2017). The target moves with alpha
(``alpha`` · painting + ``(1 - alpha)`` · content), mixes with the style weights, and follows the mask region
by region. ``palette="network"`` keeps the decoder's own colours.

Colour preservation keeps the content's chroma: the output's BT.601 luma with the content's Cb and Cr; it
replaces the palette matching (the two ask for opposite colours).

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
from restore.metrics.color import lab_to_rgb, rgb_to_lab, rgb_to_ycbcr, ycbcr_to_rgb
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
# What colours the output takes: the painting's L*a*b* mean and spread, or the decoder's own.
PALETTES = ("painting", "network")
# The most a channel's spread is stretched: a (nearly) flat output, e.g. of a flat content, would otherwise have
# its faint texture stretched into noise at the painting's spread (a flat grey came out with line jumps of 70
# levels). It binds on none of the 43 held-out pairs (docs/style.md).
MAX_SPREAD_GAIN = 4.0
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


def _region_masks(mask: MaskInput, n_styles: int, shape: tuple[int, int]) -> Tensor:
    """The mask as one float map per style, checked against the style count and content size.
    Shape: -> (K, H, W)."""
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
    return masks


def _share_per_position(masks: Tensor) -> Tensor:
    """Masks normalised to sum 1 at every position. Shape: (K, H, W) -> (K, H, W)."""
    masks = masks.clamp_min(0)
    total = masks.sum(dim=0, keepdim=True)
    # Positions no mask covers fall back to an even mix instead of decoding zero features.
    return torch.where(total > 0, masks / total.clamp_min(1e-12), torch.full_like(masks, 1.0 / masks.shape[0]))


def _region_weights(masks: Tensor, feature_shape: tuple[int, int]) -> Tensor:
    """Per-style weights at feature resolution, summing to 1 at every position. Shape: (K, H, W) -> (K, 1, h, w)."""
    padded = _padded_content(masks[None])
    return _share_per_position(F.adaptive_avg_pool2d(padded, feature_shape)[0])[:, None]


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


def lab_moments(image: Tensor, weights: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation of an RGB image's L*a*b* colours, each pixel counted by
    ``weights`` (default: all equally), the statistics Reinhard et al. transfer.

    Shape: (1, 3, H, W) in [0, 1], weights (H, W) or None -> (3,), (3,).
    """
    lab = rgb_to_lab(image[0].to(torch.float64)).flatten(1)
    if weights is None:
        weights = torch.ones(lab.shape[1], dtype=torch.float64, device=lab.device)
    weights = weights.reshape(-1).to(lab)
    share = weights / weights.sum().clamp_min(1e-12)
    mean = lab @ share
    std = (((lab - mean[:, None]) ** 2) @ share).sqrt()
    return mean, std


def match_moments(image: Tensor, weights: Tensor | None, target_mean: Tensor, target_std: Tensor) -> Tensor:
    """``image`` with its L*a*b* channels shifted and scaled so that, over the pixels ``weights`` counts, their
    mean and standard deviation are the targets (a spread grows at most ``MAX_SPREAD_GAIN`` times); unclamped
    RGB in the image's dtype.

    Shape: (1, 3, H, W) in [0, 1], weights (H, W) or None, (3,), (3,) -> (1, 3, H, W).
    """
    mean, std = lab_moments(image, weights)
    lab = rgb_to_lab(image.to(torch.float64))
    scale = (target_std / std.clamp_min(1e-12)).clamp_max(MAX_SPREAD_GAIN)[:, None, None]
    matched = (lab - mean[:, None, None]) * scale + target_mean[:, None, None]
    return lab_to_rgb(matched).to(image.dtype)


def take_palette(output: Tensor, content: Tensor, styles: Sequence[Tensor], alpha: float,
                 style_weights: Sequence[float] | None = None, regions: Tensor | None = None) -> Tensor:
    """The painting's palette on a decoded ``output``: its L*a*b* moments matched to
    ``alpha`` · painting's + ``(1 - alpha)`` · content's, so alpha 0 asks for the content's own colours.

    Several ``styles`` mix their moments with ``style_weights`` (default: equal). ``regions`` (one share map per
    style, summing to 1 at every pixel) instead matches each region, its output and content pixels counted by
    the style's share, to its own painting, and blends the matched images by the same shares.
    Shape: (1, 3, H, W), (1, 3, H, W), K x (1, 3, H_k, W_k), regions (K, H, W) or None; all in [0, 1]
    -> (1, 3, H, W), unclamped.
    """
    painting_moments = [lab_moments(style) for style in styles]

    def target(painting: tuple[Tensor, Tensor], weights: Tensor | None) -> tuple[Tensor, Tensor]:
        content_mean, content_std = lab_moments(content, weights)
        return alpha * painting[0] + (1 - alpha) * content_mean, alpha * painting[1] + (1 - alpha) * content_std

    if regions is None:
        shares = _normalised_weights(style_weights, len(styles))
        mixed = (sum(w * mean for w, (mean, _) in zip(shares, painting_moments)),
                 sum(w * std for w, (_, std) in zip(shares, painting_moments)))
        return match_moments(output, None, *target(mixed, None))
    regions = regions.to(output)
    # A style whose region is empty has no pixels to match (and its moments would divide by zero).
    return sum(share * match_moments(output, share, *target(moments, share))
               for share, moments in zip(regions, painting_moments) if share.sum() > 0)


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
    palette: str = "painting",
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
    ``palette``: "painting" (default) matches the output's L*a*b* mean and spread to the painting's (blended
    with the content's by alpha, mixed by the style weights, per region with a mask); "network" keeps the
    decoder's colours. With ``preserve_color`` the content's chroma is kept and no palette is matched.
    """
    if palette not in PALETTES:
        raise ValueError(f"palette must be one of {', '.join(PALETTES)}, got {palette!r}")
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

    masks = _region_masks(mask, len(style_arrays), (height, width)) if mask is not None else None
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
                weights = _region_weights(masks, tuple(stylised[0].shape[-2:]))
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
        output = output.clamp(0, 1)
        if palette == "painting" and not preserve_color:
            # Moments of the paintings as this call sees them (after their resize), so the output takes
            # the colours of the paintings the user is shown.
            paintings = [image_tensor(style).to(device) for style in style_arrays]
            regions = _share_per_position(masks) if masks is not None else None
            output = take_palette(output, content_image, paintings, alpha, style_weights, regions).clamp(0, 1)
        output = output * 255.0
        if preserve_color:
            output = _preserve_colour(output, content_image * 255.0)
        pixels = output[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    return pixels
