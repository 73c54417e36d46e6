"""RNAN and SAN against the official float64 reference fixtures, plus their any-size behaviour."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from restore import build_model, load_official, self_ensemble
from restore.archs.rnan import RNAN
from restore.archs.san import SAN
from restore.blocks.residual_attention import MaskBranch

FIXTURES = [(arch, scale) for arch in ("rnan", "san") for scale in (2, 3, 4)]
TINY = {
    "rnan": dict(n_resgroups=3, n_feats=16),
    "san": dict(n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4),
}
STATE_PREFIX = "state_dict."


def _load_fixture(conformance_dir: Path, arch: str, scale: int) -> tuple[nn.Module, dict[str, Tensor]]:
    stem = conformance_dir / "fixtures" / f"{arch}_x{scale}_tiny"
    sidecar = json.loads(stem.with_suffix(".json").read_text())
    for name, value in TINY[arch].items():
        assert sidecar["tiny_config"][name] == value
    tensors = load_file(str(stem.with_suffix(".safetensors")))
    model = build_model(arch, scale, **TINY[arch]).eval()
    state = {key[len(STATE_PREFIX):]: value for key, value in tensors.items() if key.startswith(STATE_PREFIX)}
    load_official(model, state)
    return model, tensors


def _assert_close(actual: Tensor, reference: Tensor, relative: float = 1e-5) -> None:
    assert actual.shape == reference.shape
    error = (actual - reference).abs().max().item()
    bound = relative * reference.abs().max().item()
    assert error <= bound, f"max abs error {error:.3g} exceeds {bound:.3g}"


def _random_tiny(arch: str, scale: int, seed: int) -> nn.Module:
    model = build_model(arch, scale, **TINY[arch])
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "mean" not in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return model.eval()


@pytest.mark.parametrize(("arch", "scale"), FIXTURES)
def test_forward_matches_official(conformance_dir: Path, arch: str, scale: int) -> None:
    model, tensors = _load_fixture(conformance_dir, arch, scale)
    with torch.no_grad():
        _assert_close(model(tensors["input"]), tensors["output"])


@pytest.mark.parametrize(("arch", "scale"), FIXTURES)
def test_self_ensemble_matches_official(conformance_dir: Path, arch: str, scale: int) -> None:
    model, tensors = _load_fixture(conformance_dir, arch, scale)
    with torch.no_grad():
        _assert_close(self_ensemble(model, tensors["input"]), tensors["output_x8"])


@pytest.mark.parametrize("arch", ["rnan", "san"])
def test_state_dict_order_matches_manifest(conformance_dir: Path, arch: str) -> None:
    manifest = json.loads((conformance_dir / "manifests" / f"{arch}_x4.json").read_text())
    model = build_model(arch, 4)
    ours = [(key, list(value.shape)) for key, value in model.state_dict().items()]
    assert ours == [(key, shape) for key, shape, _ in manifest["state_dict"]]


def test_san_parameters_without_effect(conformance_dir: Path) -> None:
    """The keys the fixture lists as inert (RG.i.gamma, conv_last, non_local.soca) really are inert here."""
    model, tensors = _load_fixture(conformance_dir, "san", 2)
    sidecar = json.loads((conformance_dir / "fixtures" / "san_x2_tiny.json").read_text())
    x = tensors["input"][:1]
    with torch.no_grad():
        before = model(x)
        parameters = dict(model.named_parameters())
        for name in sidecar["params_without_effect_on_output"]:
            parameters[name].add_(1.0)
        assert torch.equal(model(x), before)
        model.gamma.add_(1.0)
        assert not torch.equal(model(x), before)


# ---------------------------------------------------------------- any input size


@pytest.mark.parametrize("arch", ["rnan", "san"])
@pytest.mark.parametrize("size", [(1, 1), (3, 2), (5, 7), (6, 9), (13, 4)])
def test_any_input_size(arch: str, size: tuple[int, int]) -> None:
    scale = 3
    model = _random_tiny(arch, scale, seed=size[0] * 31 + size[1])
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, 3, scale * size[0], scale * size[1])
    assert torch.isfinite(y).all()


def _official_mask_branch(branch: MaskBranch, x: Tensor) -> Tensor:
    """The official MaskBranchDownUp forward, with no padding."""
    features = branch.MB_RB1(x)
    up = branch.MB_Up(branch.MB_RB2(branch.MB_Down(features)))
    return branch.MB_sigmoid(branch.MB_1x1conv(branch.MB_RB3(features + up)))


@pytest.mark.parametrize("non_local", [False, True])
@pytest.mark.parametrize("size", [(2, 2), (6, 10), (12, 8)])
def test_mask_branch_even_sizes_are_bit_identical_to_official(non_local: bool, size: tuple[int, int]) -> None:
    branch = MaskBranch(8, non_local=non_local).eval()
    x = torch.randn(2, 8, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(branch(x), _official_mask_branch(branch, x))


@pytest.mark.parametrize("size", [(1, 1), (5, 6), (6, 5), (7, 9)])
def test_mask_branch_odd_sizes_pad_replicate_and_crop(size: tuple[int, int]) -> None:
    branch = MaskBranch(8).eval()
    x = torch.randn(1, 8, *size, generator=torch.Generator().manual_seed(2))
    height, width = size
    with torch.no_grad():
        features = branch.MB_RB1(x)
        padded = F.pad(features, (0, width % 2, 0, height % 2), mode="replicate")
        up = branch.MB_Up(branch.MB_RB2(branch.MB_Down(padded)))[:, :, :height, :width]
        expected = branch.MB_sigmoid(branch.MB_1x1conv(branch.MB_RB3(features + up)))
        assert torch.equal(branch(x), expected)


def test_rnan_odd_input_matches_even_path_away_from_border(conformance_dir: Path) -> None:
    """Cropping one row/column off an even input only perturbs the output near that border.

    The mask branch's receptive field is finite, but the non-local blocks see the whole image, so
    agreement is approximate; this guards against gross misalignment of the padded path.
    """
    model, tensors = _load_fixture(conformance_dir, "rnan", 2)
    x = tensors["input"][:1]
    with torch.no_grad():
        even = model(x)
        odd = model(x[:, :, :21, :25])
    assert odd.shape == (1, 3, 42, 50)
    interior_error = (odd[:, :, :20, :20] - even[:, :, :20, :20]).abs().max().item()
    assert interior_error < 0.05 * even.abs().max().item()


def test_builders_reject_unused_official_options() -> None:
    with pytest.raises(TypeError):
        build_model("rnan", 2, n_resblocks=16)
    assert isinstance(build_model("rnan", 2, **TINY["rnan"]), RNAN)
    assert isinstance(build_model("san", 2, **TINY["san"]), SAN)
