"""SANet arbitrary style transfer (Park & Lee, CVPR 2019) in the GlebSBrykin/SANET key layouts.

Three parts, each a module whose state dict matches one official file:

- encoder: ``NormalisedVGG19`` (``vgg_normalised.pth``: a 53-child Sequential, keys ``<index>.weight``),
  or our ``VGG16Encoder`` (torchvision ``features.N.*`` keys, ImageNet mean/std normalisation in place
  of the official 1x1 "normalisation" conv);
- ``Transform`` (``transformer_iter_*.pth``): style attention at relu4_1 and relu5_1, merged by a
  reflection-padded 3x3 conv;
- decoder: a Sequential mirroring the encoder (``decoder_iter_*.pth`` for VGG-19; ``vgg16_decoder`` for
  ours).

Encoders take RGB in [0, 1] and return the relu1_1 .. relu5_1 taps; decoders return RGB on the same
scale. Any image size works: the official code needs an even relu4_1 size, here the relu5_1 branch is
cropped back to the relu4_1 size after its 2x upsample, and ``SANet`` reflection-pads images to a
multiple of 8 and crops the output.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.blocks.style_attention import StyleAttention

__all__ = [
    "NormalisedVGG19",
    "VGG16Encoder",
    "Transform",
    "SANet",
    "official_decoder",
    "vgg16_decoder",
    "band_spans",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FEATURE_CHANNELS = 512  # relu4_1 and relu5_1 width, in VGG-16 as in VGG-19
# Three stride-2 pools lie between the image and relu4_1, whose size must come out exact.
IMAGE_MULTIPLE = 8
# Image rows of context that make a position's relu5_1 features independent of what lies beyond: more than
# VGG-16's relu5_1 receptive-field radius (66 px), a multiple of 16 (the relu5_1 stride) so pools keep their cells.
ENCODER_HALO = 96
# Feature rows of context for the decoder, beyond its receptive-field radius of ~4 relu4_1 rows.
DECODER_HALO = 8

# Layer plans: an int is a reflection-padded 3x3 conv to that many channels (+ ReLU unless it is the
# decoder's last), "M" a 2x2 ceil-mode max-pool, "U" a 2x nearest upsample.
_VGG19_PLAN = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
_VGG19_DECODER_PLAN = [256, "U", 256, 256, 256, 128, "U", 128, 64, "U", 64, 3]
_VGG16_DECODER_PLAN = [256, "U", 256, 256, 128, "U", 128, 64, "U", 64, 3]
# Official Eval.py slices of the VGG-19 Sequential ending at relu1_1 .. relu5_1.
_VGG19_TAP_ENDS = (4, 11, 18, 31, 44)
# torchvision VGG-16 ``features`` indices ending at relu1_1 .. relu5_1.
_VGG16_TAP_ENDS = (2, 7, 12, 19, 26)
_VGG16_PLAN = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512]


# Keys only a ``Transform`` state dict has (names the layout in checkpoint errors).
TRANSFORM_FINGERPRINT = re.compile(r"^sanet4_1\.")

ALL_TAPS = (0, 1, 2, 3, 4)
# What the transformer reads; inference keeps only these, since relu1_1 of a 2048x2048 image alone is 1 GiB.
TRANSFORM_TAPS = (3, 4)


def _run_taps(
    layers: list[nn.Module], ends: tuple[int, ...], image: Tensor, keep: tuple[int, ...]
) -> list[Tensor | None]:
    features: list[Tensor | None] = []
    start = 0
    for tap, end in enumerate(ends):
        if tap > max(keep):
            break
        for layer in layers[start:end]:
            image = layer(image)
        features.append(image if tap in keep else None)
        start = end
    return features + [None] * (len(ends) - len(features))


def _reflect_conv_layers(
    plan: list, in_channels: int, final_relu: bool = True, inplace: bool = False
) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for position, item in enumerate(plan):
        if item == "M":
            # Tuple arguments, as the official Sequential was written (its reprs are in the manifest).
            layers.append(nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True))
        elif item == "U":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            layers += [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(in_channels, item, 3)]
            if final_relu or position < len(plan) - 1:
                layers.append(nn.ReLU(inplace=inplace))
            in_channels = item
    return layers


class NormalisedVGG19(nn.Sequential):
    """The official ``vgg`` Sequential (AdaIN's normalised VGG-19 to relu5_4, 53 children).

    Child 0 is a 1x1 conv that maps RGB in [0, 1] to the caffe-style BGR, mean-subtracted input. The
    children after relu5_1 (conv5_2 .. conv5_4) are never run but exist so the official file loads.

    Shape: (B, 3, H, W) -> taps; relu_k_1 has ceil(H / 2^(k-1)) rows (ceil-mode pools).
    """

    def __init__(self) -> None:
        super().__init__(nn.Conv2d(3, 3, 1), *_reflect_conv_layers(_VGG19_PLAN, 3))

    def taps(self, image: Tensor, keep: tuple[int, ...] = ALL_TAPS) -> list[Tensor | None]:
        """relu1_1 .. relu5_1; taps not in ``keep`` are None (and freed as soon as they are passed)."""
        return _run_taps(list(self), _VGG19_TAP_ENDS, image, keep)


class VGG16Encoder(nn.Module):
    """torchvision VGG-16 ``features`` up to relu5_1, ImageNet-normalised input, ceil-mode pools.

    The pools use ceil mode (as the official VGG-19) so relu5_1 = ceil(relu4_1 / 2) for any size; pools
    have no weights, so torchvision's ``features.N.*`` ImageNet tensors load unchanged.

    Shape: (B, 3, H, W) in [0, 1] -> taps relu1_1 (B, 64, H, W) .. relu5_1 (B, 512, H/16, W/16) (ceil).
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for item in _VGG16_PLAN:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
            else:
                # In place, as torchvision: at 2048x2048 each full-resolution map is 1 GiB.
                layers += [nn.Conv2d(in_channels, item, 3, padding=1), nn.ReLU(inplace=True)]
                in_channels = item
        self.features = nn.Sequential(*layers)
        # Not persistent: the normalisation is part of the recipe, not of the weights file.
        self.register_buffer("mean", Tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", Tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def taps(self, image: Tensor, keep: tuple[int, ...] = ALL_TAPS) -> list[Tensor | None]:
        """relu1_1 .. relu5_1; taps not in ``keep`` are None (and freed as soon as they are passed)."""
        return _run_taps(list(self.features), _VGG16_TAP_ENDS, (image - self.mean) / self.std, keep)

    def forward(self, image: Tensor) -> list[Tensor | None]:
        return self.taps(image)


def official_decoder() -> nn.Sequential:
    """The official decoder Sequential (29 children, VGG-19 mirror). Shape: (B, 512, h, w) -> (B, 3, 8h, 8w)."""
    return nn.Sequential(*_reflect_conv_layers(_VGG19_DECODER_PLAN, FEATURE_CHANNELS, final_relu=False))


def vgg16_decoder() -> nn.Sequential:
    """Decoder mirroring VGG-16 (one 256-channel conv fewer). Shape: (B, 512, h, w) -> (B, 3, 8h, 8w)."""
    # In-place ReLUs (the official decoder's are not; its reprs are pinned by the manifest) save a
    # full-resolution map per layer.
    return nn.Sequential(
        *_reflect_conv_layers(_VGG16_DECODER_PLAN, FEATURE_CHANNELS, final_relu=False, inplace=True)
    )


class Transform(nn.Module):
    """Official ``Transform``: ``merge_conv(pad(sanet4_1(c4, s4) + up2(sanet5_1(c5, s5))))``.

    The official add fails when relu4_1 has an odd side (its upsampled relu5_1 is one row/column
    larger); the upsampled branch is cropped to the relu4_1 size, which keeps each relu5_1 cell over
    the relu4_1 cells its ceil-mode pool read. Even sizes take the official path unchanged.

    Shape: (B, C, H4, W4), (B, C, h4, w4), (B, C, ceil(H4/2), ceil(W4/2)), (B, C, h5, w5) -> (B, C, H4, W4).
    """

    def __init__(self, in_planes: int = FEATURE_CHANNELS) -> None:
        super().__init__()
        self.sanet4_1 = StyleAttention(in_planes)
        self.sanet5_1 = StyleAttention(in_planes)
        self.upsample5_1 = nn.Upsample(scale_factor=2, mode="nearest")
        self.merge_conv_pad = nn.ReflectionPad2d((1, 1, 1, 1))
        self.merge_conv = nn.Conv2d(in_planes, in_planes, 3)

    def forward(self, content4_1: Tensor, style4_1: Tensor, content5_1: Tensor, style5_1: Tensor) -> Tensor:
        height, width = content4_1.shape[-2:]
        coarse = self.upsample5_1(self.sanet5_1(content5_1, style5_1))
        if coarse.shape[-2] < height or coarse.shape[-1] < width:
            raise ValueError(
                f"relu5_1 {tuple(content5_1.shape[-2:])} is too small for relu4_1 {(height, width)}; "
                "expected ceil(relu4_1 / 2)"
            )
        merged = self.sanet4_1(content4_1, style4_1) + coarse[..., :height, :width]
        return self.merge_conv(self.merge_conv_pad(merged))


class SANet(nn.Module):
    """Encoder + ``Transform`` + decoder. State-dict prefixes ``encoder.``, ``transformer.``, ``decoder.``.

    ``encode`` / ``transform`` / ``decode`` are exposed separately so callers can blend transformed
    features (alpha, several styles, per-region masks) before decoding.

    Shape: content (B, 3, H, W), style (B, 3, Hs, Ws) in [0, 1] -> (B, 3, H, W), unclamped.
    """

    def __init__(self, encoder: nn.Module, transformer: Transform, decoder: nn.Sequential) -> None:
        super().__init__()
        self.encoder = encoder
        self.transformer = transformer
        self.decoder = decoder

    def encode(self, image: Tensor, keep: tuple[int, ...] = ALL_TAPS) -> list[Tensor | None]:
        """relu1_1 .. relu5_1 of ``image`` as it is (no padding); None where not in ``keep``.

        Shape: (B, 3, H, W) -> 5 maps.
        """
        return self.encoder.taps(image, keep)

    def encode_padded(self, image: Tensor, keep: tuple[int, ...] = ALL_TAPS) -> list[Tensor | None]:
        """Taps of ``image`` reflection-padded to a multiple of 8, so relu4_1 is exactly (H/8, W/8)."""
        return self.encode(pad_to_multiple(image, IMAGE_MULTIPLE), keep)

    def transform(self, content: list[Tensor], style: list[Tensor]) -> Tensor:
        """Shape: taps, taps -> (B, 512, h4, w4) at the content's relu4_1 size."""
        return self.transformer(content[3], style[3], content[4], style[4])

    def decode(self, features: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        """Shape: (B, 512, h, w) -> (B, 3, 8h, 8w), cropped to ``size`` (H, W) when given."""
        image = self.decoder(features)
        if size is not None:
            image = image[..., : size[0], : size[1]]
        return image

    def encode_in_bands(
        self, image: Tensor, keep: tuple[int, ...] = TRANSFORM_TAPS, band: int = 256, halo: int = ENCODER_HALO
    ) -> list[Tensor | None]:
        """``encode`` computed over horizontal bands of ``band`` rows, each read with ``halo`` rows of context.

        Full-resolution VGG maps are 64 x H x W floats (1 GiB each at 2048x2048); bands bound them. Band
        starts and halos are multiples of 16, so every pool sees the same 2x2 cells as the whole image, and
        the halo exceeds relu5_1's receptive-field radius (``ENCODER_HALO``), so the result is the whole
        image's. Shape: (B, 3, H, W) -> taps as ``encode``.
        """
        height = image.shape[-2]
        if band % 16 or halo % 16:
            raise ValueError("band and halo must be multiples of 16 (the relu5_1 stride)")
        spans = band_spans(height, band, halo)
        if len(spans) == 1:
            return self.encode(image, keep)
        pieces: dict[int, list[Tensor]] = {tap: [] for tap in keep}
        for start, end, top, bottom in spans:
            taps = self.encode(image[..., top:bottom, :], keep)
            for tap in keep:
                stride = 2**tap
                first = (start - top) // stride
                count = -(-end // stride) - start // stride
                pieces[tap].append(taps[tap][..., first : first + count, :])
        return [torch.cat(pieces[tap], dim=-2) if tap in keep else None for tap in ALL_TAPS]

    def decode_in_bands(
        self, features: Tensor, size: tuple[int, int] | None = None, band: int = 32, halo: int = DECODER_HALO
    ) -> Tensor:
        """``decode`` over bands of ``band`` feature rows with ``halo`` rows of context (``DECODER_HALO``),
        equal to decoding the whole map at bounded memory.

        Shape: (B, 512, h, w) -> (B, 3, 8h, 8w), cropped to ``size``.
        """
        spans = band_spans(features.shape[-2], band, halo)
        if len(spans) == 1:
            return self.decode(features, size)
        rows = []
        for start, end, top, bottom in spans:
            decoded = self.decoder(features[..., top:bottom, :])
            rows.append(decoded[..., (start - top) * IMAGE_MULTIPLE : (end - top) * IMAGE_MULTIPLE, :])
        image = torch.cat(rows, dim=-2)
        return image if size is None else image[..., : size[0], : size[1]]

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        size = (content.shape[-2], content.shape[-1])
        content_taps = self.encode_padded(content, TRANSFORM_TAPS)
        return self.decode(self.transform(content_taps, self.encode(style, TRANSFORM_TAPS)), size)


def band_spans(height: int, band: int, halo: int) -> list[tuple[int, int, int, int]]:
    """The bands of ``SANet.encode_in_bands`` / ``decode_in_bands`` over ``height`` rows: (start, end, top, bottom)
    of each, where rows [start, end) are kept from the rows [top, bottom) it reads. One band, the whole height,
    when it fits in ``band + 2 * halo`` rows.

    >>> band_spans(100, 32, 8)[:2], band_spans(40, 32, 8)
    ([(0, 32, 0, 40), (32, 64, 24, 72)], [(0, 40, 0, 40)])
    """
    if height <= band + 2 * halo:
        return [(0, height, 0, height)]
    return [(start, min(start + band, height), max(0, start - halo), min(height, start + band + halo))
            for start in range(0, height, band)]


def pad_to_multiple(image: Tensor, multiple: int) -> Tensor:
    """Pad bottom/right to a multiple of ``multiple`` (reflection; replicate where the side is too short).

    Shape: (B, C, H, W) -> (B, C, ceil(H/m)·m, ceil(W/m)·m).
    """
    height, width = image.shape[-2:]
    pad_bottom, pad_right = -height % multiple, -width % multiple
    if pad_bottom == 0 and pad_right == 0:
        return image
    mode = "reflect" if pad_bottom < height and pad_right < width else "replicate"
    return F.pad(image, (0, pad_right, 0, pad_bottom), mode=mode)
