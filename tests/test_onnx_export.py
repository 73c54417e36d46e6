"""ONNX export: every SR arch runs in onnxruntime at free sizes and matches PyTorch within one grey level.

Also: the blocks' plain-ops export paths equal their fast paths in PyTorch, the CLI's errors, the atomic write,
and the engine's onnxruntime backend.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import onnx  # noqa: E402
import onnxruntime  # noqa: E402

from restore.archs import build_model  # noqa: E402
from restore.blocks.nonlocal_attention import NonLocalBlock, query_softmax_attention  # noqa: E402
from restore.blocks.region_nonlocal import RegionNonLocal  # noqa: E402
from restore.blocks.residual_attention import MaskBranch  # noqa: E402
from restore.blocks.second_order_attention import (  # noqa: E402
    covariance_pool,
    official_covariance_window,
    windowed_covariance_pool,
)
from restore.blocks.traceable import traceable  # noqa: E402
from restore.cli import main  # noqa: E402
from restore.interop.onnx_export import OnnxExportError, UnitRangeNetwork, onnx_bytes  # noqa: E402
from restore.io.atomic import TEMP_PREFIX  # noqa: E402

TINY = {
    "rcan": dict(n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4),
    "rdn": dict(G0=8, D=2, C=2, G=4),
    "rnan": dict(n_resgroups=2, n_feats=8),
    "san": dict(n_resgroups=1, n_resblocks=1, n_feats=16, reduction=4),
}
SCALES = {"rcan": 2, "rdn": 3, "rnan": 2, "san": 4}


def tiny_network(arch: str) -> torch.nn.Module:
    torch.manual_seed(7)
    network = build_model(arch, SCALES[arch], **TINY[arch]).eval()
    with torch.no_grad():  # random weights large enough that every branch moves the output
        for parameter in network.parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn_like(parameter) * 0.05)
    return network


def grey_levels(image: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.int16)


def run_onnx(graph: bytes, lr: torch.Tensor) -> np.ndarray:
    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    return session.run(["sr"], {"lr": lr.numpy()})[0]


# ---------------------------------------------------------------- export paths equal the fast paths


@pytest.mark.parametrize("height, width", [(1, 1), (5, 8), (8, 3), (8, 8), (8, 13), (13, 8), (12, 9), (3, 12)])
def test_windowed_covariance_equals_the_official_crop_in_every_branch(height, width):
    x = torch.rand(2, 4, height, width, dtype=torch.float64)
    expected = covariance_pool(official_covariance_window(x, window=8))
    torch.testing.assert_close(windowed_covariance_pool(x, window=8), expected, rtol=1e-10, atol=1e-12)


def test_traceable_nonlocal_attention_equals_the_fused_path():
    torch.manual_seed(0)
    query, key, value = torch.randn(2, 4, 90), torch.randn(2, 4, 90), torch.randn(2, 90, 6)
    with torch.no_grad():
        fused = query_softmax_attention(query, key, value)
        with traceable():
            plain = query_softmax_attention(query, key, value)
    torch.testing.assert_close(plain, fused, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("block", ["mask_branch", "region_nonlocal", "nonlocal"])
@pytest.mark.parametrize("height, width", [(2, 3), (7, 9), (8, 6)])
def test_traceable_block_paths_equal_the_fast_paths(block, height, width):
    torch.manual_seed(1)
    module = {
        "mask_branch": lambda: MaskBranch(8, non_local=True),
        "region_nonlocal": lambda: RegionNonLocal(16, 2),
        "nonlocal": lambda: NonLocalBlock(8, 4),
    }[block]().eval()
    x = torch.randn(2, module_channels(module), height, width)
    with torch.no_grad():
        fast = module(x)
        with traceable():
            plain = module(x)
    torch.testing.assert_close(plain, fast, rtol=1e-5, atol=1e-5)


def module_channels(module: torch.nn.Module) -> int:
    return next(p for p in module.parameters() if p.dim() == 4).shape[1]


@pytest.mark.parametrize("arch", ["rnan", "san"])
def test_whole_networks_give_the_same_output_on_their_export_paths(arch):
    network = tiny_network(arch)
    for height, width in [(3, 10), (9, 7)]:
        lr = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(height)) * 255
        with torch.no_grad():
            fast = network(lr)
            with traceable():
                plain = network(lr)
        torch.testing.assert_close(plain, fast, rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------- every arch in onnxruntime


@pytest.fixture(scope="module")
def exported():
    """arch -> (network, ONNX bytes), exported on first use and shared by the tests of this module."""
    cache: dict[str, tuple[torch.nn.Module, bytes]] = {}

    def get(arch: str) -> tuple[torch.nn.Module, bytes]:
        if arch not in cache:
            network = tiny_network(arch)
            cache[arch] = (network, onnx_bytes(network, SCALES[arch]))
        return cache[arch]

    return get


@pytest.mark.parametrize("arch", ["rcan", "rdn", "rnan", pytest.param("san", marks=pytest.mark.slow)])
def test_each_arch_runs_in_onnxruntime_at_free_sizes_within_one_grey_level(exported, arch):
    network, graph = exported(arch)
    wrapped = UnitRangeNetwork(network)
    generator = torch.Generator().manual_seed(3)
    for shape in [(1, 3, 9, 14), (3, 3, 24, 17)]:
        lr = torch.rand(*shape, generator=generator)
        with torch.no_grad():
            expected = wrapped(lr).numpy()
        produced = run_onnx(graph, lr)
        assert produced.shape == (shape[0], 3, shape[2] * SCALES[arch], shape[3] * SCALES[arch])
        assert np.abs(grey_levels(produced) - grey_levels(expected)).max() <= 1
        assert produced.min() >= 0.0 and produced.max() <= 1.0


def test_exported_graph_declares_free_batch_height_and_width(exported):
    _, graph = exported("rcan")
    model = onnx.load_from_string(graph)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, "height", "width"]
    assert {p.key: p.value for p in model.metadata_props}["scale"] == "2"


def test_a_size_frozen_while_tracing_is_refused():
    class FrozenWidth(torch.nn.Module):
        def forward(self, x):
            x = torch.nn.functional.interpolate(x, scale_factor=2.0)
            if x.shape[-1] > 30:  # a Python branch on the size: the tracer keeps the example's side
                return x
            return x * 0.5

    with pytest.raises(OnnxExportError, match="input size"):
        onnx_bytes(FrozenWidth(), 2)


def test_a_graph_that_computes_something_else_fails_the_check(exported):
    from restore.interop.onnx_export import _check_against_torch

    _, graph = exported("rcan")
    other = UnitRangeNetwork(build_model("rcan", 2, **TINY["rcan"]).eval())  # fresh random weights
    with pytest.raises(OnnxExportError, match="grey levels"):
        _check_against_torch(graph, other, 2)


# ---------------------------------------------------------------- the CLI


def test_cli_exports_the_shipped_rcan_compact_x2(tmp_path, capsys):
    from restore.zoo import load_model

    out = tmp_path / "rcan-compact_x2.onnx"
    assert main(["export", "rcan-compact", "--scale", "2", "--onnx", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
    lr = torch.rand(1, 3, 21, 16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = UnitRangeNetwork(load_model("rcan-compact", 2))(lr).numpy()
    assert np.abs(grey_levels(run_onnx(out.read_bytes(), lr)) - grey_levels(expected)).max() <= 1
    metadata = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert metadata["model"] == "rcan-compact" and metadata["arch"] == "rcan"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["rcan-compact", "--scale", "5"], "no x5 entry"),
        (["no-such-model", "--scale", "2"], "unknown model"),
        (["rcan", "--scale", "2"], "no weights for rcan x2"),
        (["bicubic", "--scale", "2"], "no network to export"),
        (["weights.pth", "--scale", "2"], "weights.pth: not found"),
        (["rcan-compact"], "--scale is needed"),
        (["rcan", "--scale", "2", "--weights", "missing.pt"], "not found"),
    ],
)
def test_cli_export_errors_are_clear_and_write_nothing(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.onnx"
    assert main(["export", *argv, "--onnx", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_exports_a_checkpoint_file_recognised_from_its_tensors(tmp_path, capsys):
    """MODEL_OR_FILE: an official-layout RCAN at a non-paper shape, its arch, scale and config read from tensors."""
    from restore.archs import build_model

    torch.manual_seed(3)
    network = build_model("rcan", 3, n_resgroups=1, n_resblocks=2, n_feats=8, reduction=4).eval()
    checkpoint = tmp_path / "my_rcan.pt"
    torch.save({"params": network.state_dict()}, checkpoint)
    out = tmp_path / "my_rcan.onnx"
    assert main(["export", str(checkpoint), "--onnx", str(out)]) == 0
    lr = torch.rand(1, 3, 13, 10, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        expected = UnitRangeNetwork(network)(lr).numpy()
    assert np.abs(grey_levels(run_onnx(out.read_bytes(), lr)) - grey_levels(expected)).max() <= 1
    metadata = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert metadata["arch"] == "rcan" and metadata["layout"] == "official"
    assert main(["export", str(checkpoint), "--scale", "2", "--onnx", str(tmp_path / "no.onnx")]) == 2
    assert "x3" in capsys.readouterr().err and not (tmp_path / "no.onnx").exists()


# ---------------------------------------------------------------- the engine's onnxruntime backend


def test_onnxruntime_backend_upscales_like_torch_tiles_included(tmp_path, monkeypatch):
    from restore.engine import Upscaler

    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path / "cache"))
    image = np.random.default_rng(0).integers(0, 256, size=(37, 29, 4), dtype=np.uint8)
    results = {
        backend: Upscaler("rcan-compact", 2, tile=16, overlap=4, backend=backend).upscale_array(image)
        for backend in ("torch", "onnxruntime")
    }
    assert results["onnxruntime"].shape == results["torch"].shape == (74, 58, 4)
    difference = np.abs(results["onnxruntime"].astype(np.int16) - results["torch"].astype(np.int16))
    assert difference.max() <= 1
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1  # exported once, then reused


def test_onnxruntime_backend_refuses_a_gpu_and_bicubic():
    from restore.engine import Upscaler

    with pytest.raises(ValueError, match="CPU"):
        Upscaler("rcan-compact", 2, device="cuda", backend="onnxruntime")
    with pytest.raises(ValueError, match="bicubic"):
        Upscaler("bicubic", 2, backend="onnxruntime")
