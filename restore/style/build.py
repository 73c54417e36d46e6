"""Build SANet networks: our VGG-16 variant (ImageNet encoder) or the official VGG-19 layout."""
from __future__ import annotations

from restore.archs.sanet import SANet, NormalisedVGG19, Transform, VGG16Encoder, official_decoder, vgg16_decoder
from restore.checkpoint import load_official

ENCODERS = ("vgg16", "vgg19_official")
# torchvision VGG-16 ``features`` indices up to conv5_1 (index 24); later convs are not part of the encoder.
_VGG16_LAST_USED_INDEX = 24


def build_sanet(encoder: str = "vgg16", encoder_weights: bool = True) -> SANet:
    """A SANet with the ``encoder`` family's encoder and matching decoder, in eval mode.

    ``"vgg16"``: torchvision VGG-16 to relu5_1; with ``encoder_weights`` its ImageNet weights are loaded
    (strictly) from the converted backbone cache (WeightsError with the fetch command when absent).
    ``"vgg19_official"``: the GlebSBrykin layout; load its three files with :func:`load_official_sanet`.
    The transformer and decoder start from PyTorch's default initialisation. The encoder is frozen.
    """
    if encoder == "vgg16":
        network = SANet(build_vgg16_encoder(encoder_weights), Transform(), vgg16_decoder())
    elif encoder == "vgg19_official":
        network = SANet(NormalisedVGG19(), Transform(), official_decoder())
    else:
        raise ValueError(f"unknown SANet encoder {encoder!r}; known: {', '.join(ENCODERS)}")
    network.encoder.requires_grad_(False)
    return network.eval()


def build_vgg16_encoder(weights: bool = True) -> VGG16Encoder:
    """The frozen ImageNet VGG-16 encoder to relu5_1 (the loss network of training and of ``optimize``), in
    eval mode; WeightsError with the fetch command when the backbone is not cached."""
    encoder = VGG16Encoder()
    if weights:
        load_official(encoder, _vgg16_encoder_state())
    return encoder.requires_grad_(False).eval()


def load_official_sanet(network: SANet, vgg: object, decoder: object, transformer: object) -> SANet:
    """Load the three official files (paths or state dicts) strictly into a ``vgg19_official`` SANet."""
    if not isinstance(network.encoder, NormalisedVGG19):
        raise ValueError("the official files fit build_sanet('vgg19_official') only")
    load_official(network.encoder, vgg)
    load_official(network.decoder, decoder)
    load_official(network.transformer, transformer)
    return network


def _vgg16_encoder_state() -> dict:
    from restore.weights.backbones import load_backbone_state

    return {
        key: value
        for key, value in load_backbone_state("vgg16").items()
        if int(key.split(".")[1]) <= _VGG16_LAST_USED_INDEX
    }
