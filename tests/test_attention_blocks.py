"""Attention blocks (RNAN non-local, SAN region non-local and SOCA, SANet style attention) against the
official float64 module fixtures and against naive, fully materialised references."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from restore.blocks import create_block
from restore.blocks.nonlocal_attention import NonLocalBlock, query_softmax_attention
from restore.blocks.region_nonlocal import PooledNonLocalBlock, RegionNonLocal
from restore.blocks.second_order_attention import (
    SecondOrderChannelAttention,
    covariance_pool,
    official_covariance_window,
    sqrtm_newton_schulz,
)
from restore.blocks.style_attention import StyleAttention, mean_variance_norm

STATE_PREFIX = "state_dict."


def _fixture(conformance_dir: Path, name: str) -> dict[str, Tensor]:
    return load_file(str(conformance_dir / "fixtures" / f"{name}.safetensors"))


def _load(module: nn.Module, tensors: dict[str, Tensor]) -> nn.Module:
    state = {key[len(STATE_PREFIX):]: value for key, value in tensors.items() if key.startswith(STATE_PREFIX)}
    module.load_state_dict(state, strict=True)
    return module.eval()


def _assert_close(actual: Tensor, reference: Tensor, relative: float = 1e-5) -> None:
    assert actual.shape == reference.shape
    error = (actual - reference).abs().max().item()
    bound = relative * reference.abs().max().item()
    assert error <= bound, f"max abs error {error:.3g} exceeds {bound:.3g}"


def _randomise(module: nn.Module, seed: int) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return module.eval()


# ---------------------------------------------------------------- naive (materialised) references


def _naive_rnan_attention(block: NonLocalBlock, x: Tensor) -> tuple[Tensor, Tensor]:
    batch, _, height, width = x.shape
    theta = block.theta(x).flatten(2).transpose(1, 2)
    phi = block.phi(x).flatten(2)
    g = block.g(x).flatten(2).transpose(1, 2)
    attention = torch.softmax(torch.bmm(theta, phi), dim=1)
    y = torch.bmm(attention, g).transpose(1, 2).reshape(batch, block.inter_channels, height, width)
    return block.W(y) + x, attention


def _naive_pooled_nonlocal(block: PooledNonLocalBlock, x: Tensor) -> Tensor:
    batch, _, height, width = x.shape
    theta = block.theta(x).flatten(2).transpose(1, 2)
    phi = block.phi(x).flatten(2)
    g = block.g(x).flatten(2).transpose(1, 2)
    y = torch.bmm(torch.softmax(torch.bmm(theta, phi), dim=-1), g)
    return block.W(y.transpose(1, 2).reshape(batch, block.inter_channels, height, width)) + x


def _naive_region_nonlocal(module: RegionNonLocal, x: Tensor) -> Tensor:
    out = torch.zeros_like(x)
    mid_h, mid_w = x.shape[2] // 2, x.shape[3] // 2
    for rows in (slice(None, mid_h), slice(mid_h, None)):
        for cols in (slice(None, mid_w), slice(mid_w, None)):
            out[:, :, rows, cols] = _naive_pooled_nonlocal(module.non_local, x[:, :, rows, cols])
    return out


def _official_form_covariance(x: Tensor) -> Tensor:
    """MPNCOV Covpool: X Ihat X^T with the (M x M) centring matrix (tiny inputs only)."""
    features = x.flatten(2)
    positions = features.shape[2]
    ones = torch.ones(positions, positions, dtype=x.dtype)
    centring = torch.eye(positions, dtype=x.dtype) / positions - ones / positions**2
    return features @ centring @ features.transpose(1, 2)


def _official_form_sqrtm(matrix: Tensor, iterations: int) -> Tensor:
    """MPNCOV Sqrtm written out with its Y/Z history buffers (here in the input dtype)."""
    batch, size, _ = matrix.shape
    three_identity = 3.0 * torch.eye(size, dtype=matrix.dtype).expand(batch, size, size)
    norm = (1.0 / 3.0) * (matrix * three_identity).sum(dim=1).sum(dim=1)
    a = matrix / norm.view(batch, 1, 1)
    ys, zs = [], []
    zy = 0.5 * (three_identity - a)
    ys.append(a.bmm(zy))
    zs.append(zy)
    for i in range(1, iterations - 1):
        zy = 0.5 * (three_identity - zs[i - 1].bmm(ys[i - 1]))
        ys.append(ys[i - 1].bmm(zy))
        zs.append(zy.bmm(zs[i - 1]))
    zy = 0.5 * ys[iterations - 2].bmm(three_identity - zs[iterations - 2].bmm(ys[iterations - 2]))
    return zy * torch.sqrt(norm).view(batch, 1, 1)


def _naive_style_attention(block: StyleAttention, content: Tensor, style: Tensor) -> Tensor:
    def mvn(features: Tensor) -> Tensor:
        flat = features.flatten(2)
        count = flat.shape[2]
        mean = flat.mean(dim=2, keepdim=True)
        variance = ((flat - mean) ** 2).sum(dim=2, keepdim=True) / (count - 1)
        return ((flat - mean) / torch.sqrt(variance + 1e-5)).view_as(features)

    f = block.f(mvn(content)).flatten(2).transpose(1, 2)
    g = block.g(mvn(style)).flatten(2)
    h = block.h(style).flatten(2)
    scores = torch.softmax(torch.bmm(f, g), dim=-1)
    return block.out_conv(torch.bmm(h, scores.transpose(1, 2)).view_as(content)) + content


# ---------------------------------------------------------------- RNAN non-local block


def test_rnan_nonlocal_matches_official(conformance_dir: Path) -> None:
    tensors = _fixture(conformance_dir, "rnan_nonlocal_module")
    block = _load(NonLocalBlock(16, 8), tensors)
    with torch.no_grad():
        _assert_close(block(tensors["input"]), tensors["output"])
        naive_output, attention = _naive_rnan_attention(block, tensors["input"])
    # The stored attention matrix pins down the softmax axis (query axis, dim=1) of the naive reference.
    _assert_close(attention, tensors["attention"])
    _assert_close(naive_output, tensors["output"])


@pytest.mark.parametrize(
    ("size", "band"),
    [((1, 1), 1), ((1, 1), None), ((5, 7), 1), ((5, 7), 4), ((9, 4), 7), ((12, 14), 50), ((12, 14), None)],
)
def test_rnan_nonlocal_chunked_equals_naive(size: tuple[int, int], band: int | None) -> None:
    block = _randomise(NonLocalBlock(6, 3, band=band), seed=sum(size))
    x = torch.randn(2, 6, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        _assert_close(block(x), _naive_rnan_attention(block, x)[0], relative=1e-6)


def test_query_softmax_attention_is_not_key_softmax() -> None:
    generator = torch.Generator().manual_seed(3)
    query, key = torch.randn(1, 4, 10, generator=generator), torch.randn(1, 4, 10, generator=generator)
    value = torch.randn(1, 10, 2, generator=generator)
    logits = torch.bmm(query.transpose(1, 2), key)
    expected = torch.bmm(torch.softmax(logits, dim=1), value)
    assert torch.allclose(query_softmax_attention(query, key, value, band=3), expected, atol=1e-6)
    assert not torch.allclose(expected, torch.bmm(torch.softmax(logits, dim=2), value), atol=1e-3)


@pytest.mark.parametrize("logit_scale", [0.05, 1.0, 6.0])
def test_fused_query_softmax_attention_equals_the_banded_path(logit_scale: float) -> None:
    """The fused-kernel rewrite (sink keys, centred column log-sum-exp) against the plain banded computation.

    At logit scale 6 the strided sample's centre misses many columns' peaks by more than float32 can span, so the
    exact fallback for those columns is exercised too.
    """
    generator = torch.Generator().manual_seed(11)
    query = torch.randn(2, 8, 900, generator=generator, dtype=torch.float64) * logit_scale
    key = torch.randn(2, 8, 900, generator=generator, dtype=torch.float64) * logit_scale
    value = torch.randn(2, 900, 5, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        banded = query_softmax_attention(query, key, value, band=64)
        for dtype, relative in ((torch.float64, 1e-12), (torch.float32, 2e-5)):
            fused = query_softmax_attention(query.to(dtype), key.to(dtype), value.to(dtype))
            assert fused.dtype == dtype and torch.isfinite(fused).all()
            _assert_close(fused.double(), banded, relative=relative)


def test_query_softmax_attention_training_path_matches_banded_values_and_naive_gradients() -> None:
    generator = torch.Generator().manual_seed(7)
    query, key = torch.randn(2, 4, 30, generator=generator), torch.randn(2, 4, 30, generator=generator)
    value = torch.randn(2, 30, 3, generator=generator)
    with torch.no_grad():
        banded = query_softmax_attention(query, key, value, band=7)
    leaves = [t.clone().requires_grad_() for t in (query, key, value)]
    dense = query_softmax_attention(*leaves, band=7)
    assert torch.allclose(dense, banded, atol=1e-6)
    dense.square().sum().backward()
    naive_leaves = [t.clone().requires_grad_() for t in (query, key, value)]
    q, k, v = naive_leaves
    torch.bmm(torch.softmax(torch.bmm(q.transpose(1, 2), k), dim=1), v).square().sum().backward()
    for ours, naive in zip(leaves, naive_leaves):
        assert torch.allclose(ours.grad, naive.grad, atol=1e-5)


class _LargestTensor(TorchFunctionMode):
    """Records the largest tensor any torch function returns while active."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for item in result if isinstance(result, (tuple, list)) else (result,):
            if isinstance(item, Tensor):
                self.largest = max(self.largest, item.numel())
        return result


@pytest.mark.parametrize("band", [768, None])
def test_rnan_nonlocal_never_materialises_hw_by_hw(band: int | None) -> None:
    height = width = 96
    positions = height * width
    block = _randomise(NonLocalBlock(16, 8, band=band), seed=5)
    x = torch.randn(1, 16, height, width, generator=torch.Generator().manual_seed(2))
    tracker = _LargestTensor()
    with torch.no_grad(), tracker:
        y = block(x)
    assert tracker.largest < positions * positions // 4
    if band is not None:
        assert tracker.largest <= band * positions
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_rnan_nonlocal_band_does_not_change_result() -> None:
    block = _randomise(NonLocalBlock(8, 4), seed=9)
    x = torch.randn(1, 8, 20, 18, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        whole = block(x)
        block.band = 13
        _assert_close(block(x), whole, relative=1e-6)


# ---------------------------------------------------------------- SAN region non-local


@pytest.mark.parametrize(("input_key", "output_key"), [("input", "output"), ("input_odd", "output_odd")])
def test_san_region_nonlocal_matches_official(conformance_dir: Path, input_key: str, output_key: str) -> None:
    tensors = _fixture(conformance_dir, "san_nonlocal_module")
    module = _load(RegionNonLocal(16, 2, reduction=8), tensors)
    with torch.no_grad():
        _assert_close(module(tensors[input_key]), tensors[output_key])
        _assert_close(_naive_region_nonlocal(module, tensors[input_key]), tensors[output_key])


@pytest.mark.parametrize("size", [(4, 4), (5, 7), (9, 6), (13, 15)])
def test_san_region_nonlocal_equals_naive(size: tuple[int, int]) -> None:
    module = _randomise(RegionNonLocal(16, 2), seed=size[0])
    x = torch.randn(2, 16, *size, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        _assert_close(module(x), _naive_region_nonlocal(module, x), relative=1e-6)


def test_san_region_nonlocal_soca_has_no_effect() -> None:
    module = _randomise(RegionNonLocal(16, 2), seed=11)
    x = torch.randn(1, 16, 8, 10, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        before = module(x)
        for parameter in module.soca.parameters():
            parameter.mul_(-3.0)
        assert torch.equal(module(x), before)


@pytest.mark.parametrize("size", [(1, 1), (3, 3), (2, 9), (7, 1)])
def test_san_region_nonlocal_pads_tiny_inputs(size: tuple[int, int]) -> None:
    module = _randomise(RegionNonLocal(16, 2), seed=12)
    x = torch.randn(1, 16, *size, generator=torch.Generator().manual_seed(9))
    padded_size = (max(4, size[0]), max(4, size[1]))
    padded = torch.nn.functional.pad(x, (0, padded_size[1] - size[1], 0, padded_size[0] - size[0]), mode="replicate")
    with torch.no_grad():
        y = module(x)
        expected = _naive_region_nonlocal(module, padded)[:, :, : size[0], : size[1]]
    assert y.shape == x.shape
    _assert_close(y, expected, relative=1e-6)


# ---------------------------------------------------------------- SAN second-order channel attention


def test_soca_matches_official(conformance_dir: Path) -> None:
    tensors = _fixture(conformance_dir, "san_soca_module")
    module = _load(SecondOrderChannelAttention(16, reduction=4), tensors)
    with torch.no_grad():
        covariance = covariance_pool(tensors["input"])
        _assert_close(covariance, tensors["cov"])
        _assert_close(sqrtm_newton_schulz(covariance, 5), tensors["cov_sqrt"])
        _assert_close(module.channel_weights(tensors["input"]), tensors["channel_weight"])
        _assert_close(module(tensors["input"]), tensors["output"])


@pytest.mark.parametrize("size", [(1, 2), (5, 7), (11, 6)])
def test_covariance_equals_official_centring_matrix_form(size: tuple[int, int]) -> None:
    x = torch.randn(2, 5, *size, dtype=torch.float64, generator=torch.Generator().manual_seed(size[1]))
    torch.testing.assert_close(covariance_pool(x), _official_form_covariance(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("iterations", [2, 3, 5, 7])
def test_sqrtm_equals_official_iteration(iterations: int) -> None:
    x = torch.randn(3, 6, 9, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(iterations))
    covariance = covariance_pool(x)
    ours = sqrtm_newton_schulz(covariance, iterations)
    torch.testing.assert_close(ours, _official_form_sqrtm(covariance, iterations), rtol=1e-12, atol=1e-12)


def test_sqrtm_approximates_the_square_root() -> None:
    x = torch.randn(1, 4, 30, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    covariance = covariance_pool(x)
    root = sqrtm_newton_schulz(covariance, 20)
    torch.testing.assert_close(root @ root, covariance, rtol=1e-8, atol=1e-10)


def test_sqrtm_rejects_fewer_than_two_iterations() -> None:
    with pytest.raises(ValueError):
        sqrtm_newton_schulz(torch.eye(3).unsqueeze(0), 1)


def test_soca_runs_in_float64_with_float32_default_dtype() -> None:
    # The official Sqrtm allocated its buffers in the default dtype and failed here.
    module = _randomise(SecondOrderChannelAttention(8, reduction=2), seed=1).double()
    x = torch.randn(1, 8, 6, 5, dtype=torch.float64)
    assert torch.get_default_dtype() == torch.float32
    assert module(x).dtype == torch.float64


@pytest.mark.parametrize("size", [(1, 1), (3, 4)])
def test_soca_zero_covariance_gives_zero_root_not_nan(size: tuple[int, int]) -> None:
    # 0.5 keeps the mean exact in float32, so the covariance is exactly zero.
    constant = torch.full((2, 8, *size), 0.5)
    root = sqrtm_newton_schulz(covariance_pool(constant), 5)
    assert torch.equal(root, torch.zeros_like(root))
    module = _randomise(SecondOrderChannelAttention(8, reduction=2), seed=2)
    with torch.no_grad():
        assert torch.isfinite(module(constant)).all()


@pytest.mark.parametrize(
    ("size", "rows", "cols"),
    [
        ((999, 999), slice(0, 999), slice(0, 999)),
        ((1000, 1000), slice(0, 1000), slice(0, 1000)),
        ((1200, 800), slice(100, 1100), slice(0, 800)),
        ((800, 1201), slice(0, 800), slice(100, 1100)),
        ((1003, 1006), slice(1, 1001), slice(3, 1003)),
        # A side of exactly 1000 takes the "crop both" branch: the other side's start is negative and
        # Python slicing counts it from the end (official behaviour, kept).
        ((500, 1000), slice(250, 500), slice(0, 1000)),
        ((1000, 601), slice(0, 1000), slice(401, 601)),
    ],
)
def test_official_covariance_window(size: tuple[int, int], rows: slice, cols: slice) -> None:
    height, width = size
    x = torch.arange(height * width, dtype=torch.float32).view(1, 1, height, width)
    assert torch.equal(official_covariance_window(x), x[:, :, rows, cols])


# ---------------------------------------------------------------- SANet style attention


def test_style_attention_matches_official(conformance_dir: Path) -> None:
    tensors = _fixture(conformance_dir, "sanet_sanet_module")
    block = _load(StyleAttention(32), tensors)
    with torch.no_grad():
        _assert_close(block(tensors["content"], tensors["style"]), tensors["output"])
        _assert_close(_naive_style_attention(block, tensors["content"], tensors["style"]), tensors["output"])


@pytest.mark.parametrize(("content_size", "style_size"), [((5, 7), (9, 3)), ((1, 3), (4, 4)), ((12, 11), (2, 1))])
def test_style_attention_equals_naive(content_size: tuple[int, int], style_size: tuple[int, int]) -> None:
    block = _randomise(StyleAttention(8), seed=3)
    generator = torch.Generator().manual_seed(4)
    content = torch.rand(2, 8, *content_size, generator=generator)
    style = torch.rand(2, 8, *style_size, generator=generator)
    with torch.no_grad():
        _assert_close(block(content, style), _naive_style_attention(block, content, style), relative=1e-6)


def test_mean_variance_norm_uses_unbiased_variance() -> None:
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    flat = x.flatten(2)
    expected = (flat - flat.mean(2, keepdim=True)) / torch.sqrt(flat.var(2, unbiased=True, keepdim=True) + 1e-5)
    torch.testing.assert_close(mean_variance_norm(x), expected.view_as(x))


# ---------------------------------------------------------------- registry


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("nonlocal_attention", dict(channels=8, inter_channels=4), NonLocalBlock),
        ("pooled_nonlocal", dict(channels=8, inter_channels=1), PooledNonLocalBlock),
        ("region_nonlocal", dict(channels=16, inter_channels=2), RegionNonLocal),
        ("second_order_attention", dict(channels=16, reduction=4), SecondOrderChannelAttention),
        ("style_attention", dict(in_planes=8), StyleAttention),
    ],
)
def test_blocks_are_registered(name: str, kwargs: dict, expected: type) -> None:
    assert isinstance(create_block(name, **kwargs), expected)
