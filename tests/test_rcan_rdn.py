"""RCAN and RDN against the official float64 reference fixtures, plus their blocks against naive references."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor

from restore import build_model, load_official, self_ensemble
from restore.archs.rcan import rcan
from restore.archs.rdn import rdn
from restore.blocks import create_block
from restore.blocks.channel_attention import RCAB, CALayer
from restore.blocks.dense import RDB

FIXTURES = [(arch, scale) for arch in ("rcan", "rdn") for scale in (2, 3, 4)]
# The sidecars use the official option names; RDNkSize is our kernel_size, the rest are identical.
_OFFICIAL_TO_OURS = {"RDNkSize": "kernel_size"}
_BUILDERS = {"rcan": rcan, "rdn": rdn}
TINY = {"rcan": dict(n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4), "rdn": dict(G0=16, D=3, C=3, G=8)}


def _hyperparameters(arch: str, tiny_config: dict) -> dict:
    accepted = set(inspect.signature(_BUILDERS[arch]).parameters) - {"scale"}
    renamed = {_OFFICIAL_TO_OURS.get(name, name): value for name, value in tiny_config.items()}
    return {name: value for name, value in renamed.items() if name in accepted}


def _load_fixture(conformance_dir: Path, arch: str, scale: int) -> tuple[torch.nn.Module, dict[str, Tensor]]:
    stem = conformance_dir / "fixtures" / f"{arch}_x{scale}_tiny"
    sidecar = json.loads(stem.with_suffix(".json").read_text())
    tensors = load_file(str(stem.with_suffix(".safetensors")))
    model = build_model(arch, scale, **_hyperparameters(arch, sidecar["tiny_config"])).eval()
    prefix = "state_dict."
    load_official(model, {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)})
    return model, tensors


def _assert_close_to_reference(actual: Tensor, reference: Tensor) -> None:
    assert actual.shape == reference.shape
    error = (actual - reference).abs().max().item()
    bound = 1e-5 * reference.abs().max().item()
    assert error <= bound, f"max abs error {error:.3g} exceeds {bound:.3g}"


@pytest.mark.parametrize(("arch", "scale"), FIXTURES)
def test_forward_matches_official(conformance_dir: Path, arch: str, scale: int) -> None:
    model, tensors = _load_fixture(conformance_dir, arch, scale)
    with torch.no_grad():
        _assert_close_to_reference(model(tensors["input"]), tensors["output"])


@pytest.mark.parametrize(("arch", "scale"), FIXTURES)
def test_self_ensemble_matches_official(conformance_dir: Path, arch: str, scale: int) -> None:
    model, tensors = _load_fixture(conformance_dir, arch, scale)
    with torch.no_grad():
        _assert_close_to_reference(self_ensemble(model, tensors["input"]), tensors["output_x8"])


@pytest.mark.parametrize("arch", ["rcan", "rdn"])
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("size", [(1, 1), (7, 5), (4, 9), (13, 13)])
def test_output_shape_is_exactly_scaled(arch: str, scale: int, size: tuple[int, int]) -> None:
    model = build_model(arch, scale, **TINY[arch]).eval()
    height, width = size
    with torch.no_grad():
        output = model(torch.rand(2, 3, height, width) * 255)
    assert output.shape == (2, 3, scale * height, scale * width)


def test_rcan_res_scale_has_no_effect() -> None:
    torch.manual_seed(0)
    reference = rcan(2, **TINY["rcan"]).eval()
    scaled = rcan(2, res_scale=0.1, **TINY["rcan"]).eval()
    scaled.load_state_dict(reference.state_dict())
    x = torch.rand(1, 3, 6, 7) * 255
    with torch.no_grad():
        torch.testing.assert_close(scaled(x), reference(x), rtol=0, atol=0)


def test_rdn_rejects_unsupported_scale() -> None:
    with pytest.raises(ValueError, match="scale"):
        rdn(5, **TINY["rdn"])


def _naive_calayer(layer: CALayer, x: Tensor) -> Tensor:
    squeeze, excite = layer.conv_du[0], layer.conv_du[2]
    pooled = x.mean(dim=(2, 3))  # (B, C)
    hidden = torch.relu(pooled @ squeeze.weight.flatten(1).T + squeeze.bias)
    gate = torch.sigmoid(hidden @ excite.weight.flatten(1).T + excite.bias)
    return x * gate[:, :, None, None]


def test_calayer_matches_naive() -> None:
    torch.manual_seed(1)
    layer = CALayer(16, reduction=4)
    assert [key for key in layer.state_dict()] == [
        "conv_du.0.weight", "conv_du.0.bias", "conv_du.2.weight", "conv_du.2.bias"
    ]
    x = torch.randn(3, 16, 5, 9, dtype=torch.float64)
    layer = layer.double()
    with torch.no_grad():
        torch.testing.assert_close(layer(x), _naive_calayer(layer, x))


def test_rcab_matches_naive() -> None:
    torch.manual_seed(2)
    block = RCAB(8, kernel_size=3, reduction=2).double()
    x = torch.randn(2, 8, 6, 7, dtype=torch.float64)
    first, second, attention = block.body[0], block.body[2], block.body[3]
    with torch.no_grad():
        hidden = torch.relu(F.conv2d(x, first.weight, first.bias, padding=1))
        features = F.conv2d(hidden, second.weight, second.bias, padding=1)
        expected = _naive_calayer(attention, features) + x
        torch.testing.assert_close(block(x), expected)


def test_rdb_matches_naive() -> None:
    torch.manual_seed(3)
    base, growth, layers = 6, 4, 3
    block = RDB(base, growth, layers).double()
    dense_keys = [f"convs.{c}.conv.0.{name}" for c in range(layers) for name in ("weight", "bias")]
    assert list(block.state_dict()) == dense_keys + ["LFF.weight", "LFF.bias"]
    assert block.LFF.weight.shape == (base, base + layers * growth, 1, 1)
    x = torch.randn(2, base, 5, 8, dtype=torch.float64)
    with torch.no_grad():
        stacked = x
        for c in range(layers):
            conv = block.convs[c].conv[0]
            assert conv.weight.shape == (growth, base + c * growth, 3, 3)
            stacked = torch.cat([stacked, torch.relu(F.conv2d(stacked, conv.weight, conv.bias, padding=1))], dim=1)
        expected = F.conv2d(stacked, block.LFF.weight, block.LFF.bias) + x
        torch.testing.assert_close(block(x), expected)


def test_blocks_are_registered() -> None:
    assert isinstance(create_block("channel_attention", channels=8, reduction=2), CALayer)
    assert isinstance(create_block("rcab", n_feats=8, reduction=2), RCAB)
    assert isinstance(create_block("residual_dense_block", base_channels=8, growth=4, n_layers=2), RDB)


def test_self_ensemble_is_per_item_and_one_transform_at_a_time() -> None:
    torch.manual_seed(4)
    weight = torch.randn(3, 3, 3, 3)
    seen_batches: list[int] = []

    def model(x: Tensor) -> Tensor:
        # Not flip-equivariant (random kernel) and position-dependent, so every transform matters.
        seen_batches.append(x.shape[0])
        ramp = torch.arange(x.shape[-1], dtype=x.dtype)
        return F.interpolate(F.conv2d(x, weight, padding=1) + ramp, scale_factor=2, mode="nearest")

    x = torch.randn(3, 3, 5, 7)
    output = self_ensemble(model, x)
    assert output.shape == (3, 3, 10, 14)
    assert seen_batches == [3] * 8
    for item in range(3):
        torch.testing.assert_close(output[item : item + 1], self_ensemble(model, x[item : item + 1]))

    manual = torch.zeros_like(output)
    for flip_w in (False, True):
        for flip_h in (False, True):
            for transpose in (False, True):
                view = x.flip(-1) if flip_w else x
                view = view.flip(-2) if flip_h else view
                view = view.transpose(-2, -1) if transpose else view
                out = model(view)
                out = out.transpose(-2, -1) if transpose else out
                out = out.flip(-2) if flip_h else out
                manual += out.flip(-1) if flip_w else out
    torch.testing.assert_close(output, manual / 8)


def test_self_ensemble_of_equivariant_model_is_the_model() -> None:
    x = torch.randn(2, 3, 4, 6)

    def upsample(v: Tensor) -> Tensor:
        return F.interpolate(v, scale_factor=3, mode="nearest")

    torch.testing.assert_close(self_ensemble(upsample, x), upsample(x))


def test_self_ensemble_rejects_non_4d() -> None:
    with pytest.raises(ValueError, match="B, C, H, W"):
        self_ensemble(lambda v: v, torch.zeros(3, 4, 4))
