"""The upscaling engine: seamless tiling, every pixel layout and depth, alpha without halos, precision
policy, out-of-memory retry, self-ensemble and batching."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn

import restore
from restore.archs import build_model
from restore.datasets import get_dataset
from restore.engine import Upscaler, tiled_forward
from restore.engine.alpha import fill_transparent_colour
from restore.engine.memory import EngineOutOfMemoryError, MemoryModel, auto_tile_size, memory_model_for
from restore.engine.precision import PrecisionWarning, resolve_precision
from restore.engine.resample import FloatBicubic
from restore.engine.tiling import TileLayout, axis_starts
from restore.ensemble import self_ensemble
from restore.io import read_image
from restore.metrics.imresize import imresize

CPU = torch.device("cpu")


def _tiny_rcan(scale: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return build_model("rcan", scale, n_resgroups=1, n_resblocks=2, n_feats=16, reduction=4).eval()


class _ConvOnly(nn.Module):
    """Three 3x3 convs and a pixel shuffle: a receptive radius of 3 LR pixels and no global pooling."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x / 255) * 255


def _psnr(a: Tensor, b: Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def _random_image(shape: tuple[int, ...], dtype: np.dtype, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).random(shape)
    if np.dtype(dtype).kind == "f":
        return values.astype(dtype)
    return (values * np.iinfo(dtype).max).round().astype(dtype)


@pytest.fixture(scope="module")
def b100_lr(datasets_dir) -> Tensor:
    dataset = get_dataset("B100")
    name = dataset.hr_paths()[0].stem
    return torch.from_numpy(read_image(dataset.lr_path(name, 4))).permute(2, 0, 1)[None].float()


# ---------------------------------------------------------------- tiling


@pytest.mark.parametrize("length,tile,overlap", [(100, 32, 8), (33, 32, 8), (257, 64, 32), (10, 64, 16)])
def test_tile_starts_cover_evenly_with_the_least_overlap(length: int, tile: int, overlap: int) -> None:
    starts = axis_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + min(tile, length) == length
    assert all(later - earlier <= tile - overlap for earlier, later in zip(starts, starts[1:]))


def test_blending_weights_sum_to_one_and_leave_image_edges_unfaded() -> None:
    layout = TileLayout.plan(70, 100, 32, 16, 2)
    total = torch.zeros(200, dtype=torch.float64)
    for start, weight in zip(layout.col_starts, layout.col_weights):
        total[start * 2 : start * 2 + weight.numel()] += weight
    assert torch.allclose(total, torch.ones_like(total))
    assert layout.col_weights[0][0] == 1 and layout.col_weights[-1][-1] == 1


@pytest.mark.parametrize("tile,overlap", [(16, 8), (24, 12), (40, 16)])
def test_tiled_float_bicubic_equals_whole_image(tile: int, overlap: int) -> None:
    image = torch.rand(2, 3, 45, 61, generator=torch.Generator().manual_seed(0)) * 255
    whole = imresize(image, 3)
    tiled = tiled_forward(FloatBicubic(3), image, scale=3, tile=tile, overlap=overlap)
    assert tiled.dtype == torch.float32 and tiled.shape == whole.shape
    assert (tiled - whole).abs().max() < 1e-3


def test_tiled_conv_net_equals_whole_image_when_the_dropped_margin_covers_its_receptive_field() -> None:
    network = _ConvOnly(2).eval()
    image = torch.rand(1, 3, 50, 70, generator=torch.Generator().manual_seed(2)) * 255
    with torch.inference_mode():
        whole = network(image)
    tiled = tiled_forward(network, image, scale=2, tile=24, overlap=16)  # 4 px dropped per side >= radius 3
    assert (tiled - whole).abs().max() < 1e-3


def test_tiled_rcan_stays_close_to_whole_image_on_b100(b100_lr: Tensor) -> None:
    # Channel attention pools over the tile, so tiles cannot match exactly; the blend must still hide seams.
    network = _tiny_rcan(4)
    whole = tiled_forward(network, b100_lr, scale=4, tile=None)
    tiled = tiled_forward(network, b100_lr, scale=4, tile=48, overlap=32)
    assert _psnr(tiled.clamp(0, 255), whole.clamp(0, 255)) > 45


def test_progress_reports_every_tile() -> None:
    calls: list[tuple[int, int]] = []
    tiled_forward(FloatBicubic(2), torch.rand(1, 3, 40, 40), scale=2, tile=16, overlap=8,
                  progress=lambda done, total: calls.append((done, total)))
    assert calls == [(index + 1, len(calls)) for index in range(len(calls))] and len(calls) == 16


# ---------------------------------------------------------------- out of memory


class _FailsAboveSide(nn.Module):
    def __init__(self, limit: int, error: Exception) -> None:
        super().__init__()
        self.limit, self.error, self.sides = limit, error, []
        self.inner = FloatBicubic(2)

    def forward(self, x: Tensor) -> Tensor:
        self.sides.append(max(x.shape[-2:]))
        if max(x.shape[-2:]) > self.limit:
            raise self.error
        return self.inner(x)


@pytest.mark.parametrize("error", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory: you tried to allocate"),
])
def test_out_of_memory_retries_with_half_the_tile(error: Exception) -> None:
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3)) * 255
    network = _FailsAboveSide(20, error)
    with pytest.warns(UserWarning, match="retrying with"):
        result = tiled_forward(network, image, scale=2, tile=None, overlap=8)
    assert network.sides[0] == 64 and max(network.sides[-4:]) == 16
    assert (result - imresize(image, 2)).abs().max() < 1e-3


def test_out_of_memory_at_the_smallest_tile_is_a_clear_error() -> None:
    network = _FailsAboveSide(0, torch.OutOfMemoryError("CUDA out of memory"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(EngineOutOfMemoryError, match="even with 16x16-pixel tiles"):
            tiled_forward(network, torch.rand(1, 3, 64, 64), scale=2, tile=64)
    assert isinstance(EngineOutOfMemoryError("x"), restore.errors.RestoreError)


def test_other_errors_are_not_retried() -> None:
    network = _FailsAboveSide(0, RuntimeError("shape mismatch"))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        tiled_forward(network, torch.rand(1, 3, 32, 32), scale=2, tile=None)
    assert network.sides == [32]


def test_auto_tile_is_none_when_the_image_fits_and_shrinks_with_memory() -> None:
    memory = memory_model_for("rcan", 4, {}, 4)
    assert auto_tile_size(100, 100, memory, 64 * 2**30) is None
    small = auto_tile_size(4000, 3000, memory, 2 * 2**30)
    smaller = auto_tile_size(4000, 3000, memory, 2**29)
    assert small is not None and smaller is not None and 16 <= smaller < small and small % 16 == 0
    assert memory.bytes_for(small, small) <= 0.5 * 2 * 2**30
    bicubic = memory_model_for("bicubic", 4, {}, 8)
    assert auto_tile_size(200, 200, bicubic, 64 * 2**30) is None
    assert auto_tile_size(4000, 3000, bicubic, 64 * 2**30) == 256  # a 4-tap filter gains nothing from big tiles
    attention = MemoryModel(linear=100.0, quadratic=1.0)
    assert auto_tile_size(4000, 3000, attention, 2**30) < auto_tile_size(4000, 3000, MemoryModel(100.0), 2**30)


# ---------------------------------------------------------------- precision


def test_half_precision_on_cpu_falls_back_to_fp32_with_a_warning() -> None:
    assert resolve_precision("auto", CPU) == torch.float32
    for requested in ("fp16", "bf16", "half"):
        with pytest.warns(PrecisionWarning, match="using fp32"):
            assert resolve_precision(requested, CPU) == torch.float32
    with pytest.warns(PrecisionWarning):
        upscaler = Upscaler("bicubic", 2, precision="fp16", device="cpu")
    assert upscaler.dtype == torch.float32
    assert upscaler.upscale_array(np.zeros((4, 4, 3), np.uint8)).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp8", CPU)


# ---------------------------------------------------------------- layouts and depths


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("shape", [(9, 13), (9, 13, 1), (9, 13, 2), (9, 13, 3), (9, 13, 4)])
def test_output_keeps_dtype_and_channels(shape: tuple[int, ...], dtype: np.dtype) -> None:
    image = _random_image(shape, dtype)
    result = Upscaler("bicubic", 2, tile=None, device="cpu").upscale_array(image)
    assert result.dtype == image.dtype
    assert result.shape == (18, 26, *shape[2:])
    if np.dtype(dtype).kind == "f":
        assert 0.0 <= result.min() and result.max() <= 1.0


def test_grey_equals_bicubic_of_the_single_channel() -> None:
    image = _random_image((12, 10), np.uint8)
    result = Upscaler("bicubic", 3, tile=None, device="cpu").upscale_array(image)
    expected = imresize(torch.from_numpy(image)[None], 3)[0].numpy()
    np.testing.assert_array_equal(result, expected)


def test_sixteen_bit_levels_survive() -> None:
    # 256 consecutive 16-bit levels span one 8-bit step: any 8-bit round trip would leave two or three values.
    ramp = np.tile(np.arange(30000, 30256, dtype=np.uint16), (6, 1))
    result = Upscaler("bicubic", 2, tile=None, device="cpu").upscale_array(ramp)
    assert len(np.unique(result)) > 200
    expected = imresize(torch.from_numpy(ramp.astype(np.float64))[None], 2)[0].numpy()
    assert np.abs(result.astype(np.float64) - expected).max() <= 0.5 + 1e-6


def test_eight_bit_bicubic_is_matlab_exact() -> None:
    image = _random_image((17, 23, 3), np.uint8)
    result = Upscaler("bicubic", 4, tile=8, overlap=8, device="cpu").upscale_array(image)
    expected = imresize(torch.from_numpy(image).permute(2, 0, 1), 4).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("model", ["bicubic", "tiny-rcan"])
def test_one_pixel_input(model: str) -> None:
    network = _tiny_rcan(3) if model == "tiny-rcan" else "bicubic"
    upscaler = Upscaler(network, 3, tile="auto", device="cpu")
    assert upscaler.upscale_array(np.full((1, 1, 3), 128, np.uint8)).shape == (3, 3, 3)
    assert upscaler.upscale_array(np.full((1, 1, 4), 200, np.uint8)).shape == (3, 3, 4)


def test_outscale_resizes_the_model_output() -> None:
    image = _random_image((10, 15, 3), np.uint8)
    result = Upscaler("bicubic", 4, tile=None, outscale=2.5, device="cpu").upscale_array(image)
    assert result.shape == (25, 38, 3) and result.dtype == np.uint8


# ---------------------------------------------------------------- alpha


def _disk_rgba(size: int = 48, radius: float = 14.0) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2 <= radius**2
    image = np.zeros((size, size, 4), np.uint8)
    image[inside] = 255  # opaque white disk, transparent black everywhere else
    return image


def test_rgba_white_disk_has_no_dark_halo() -> None:
    image = _disk_rgba()
    result = Upscaler("bicubic", 4, tile=None, device="cpu").upscale_array(image)
    visible = result[..., 3] > 0
    assert visible.any() and (result[..., 3] < 255)[visible].any()  # the rim is partially transparent
    assert result[..., :3][visible].min() >= 250
    # Without the fill, plain bicubic on the colour does draw a dark rim where alpha is partial.
    naive = imresize(torch.from_numpy(image[..., :3]).permute(2, 0, 1), 4).permute(1, 2, 0).numpy()
    assert naive[visible].min() < 150


def test_grey_alpha_disk_has_no_dark_halo_with_a_network() -> None:
    image = _disk_rgba()[..., 2:]  # (H, W, 2): white grey + alpha
    result = Upscaler(_ConvOnly(2), 2, tile=None, device="cpu").upscale_array(image)
    reference = Upscaler(_ConvOnly(2), 2, tile=None, device="cpu").upscale_array(np.full_like(image[..., :1], 255))
    visible = result[..., 1] > 0
    assert result.shape == (96, 96, 2)
    assert np.abs(result[..., 0][visible].astype(int) - reference[..., 0][visible]).max() <= 1


def test_fill_keeps_visible_colours_and_spreads_them_into_transparency() -> None:
    colour = torch.zeros(1, 3, 8, 8)
    alpha = torch.zeros(1, 1, 8, 8)
    colour[..., :, :2] = torch.tensor([200.0, 100.0, 50.0])[:, None, None]
    alpha[..., :, :2] = 255
    alpha[..., 0, 1] = 40
    colour[..., 0, 1] = 7
    filled = fill_transparent_colour(colour, alpha)
    assert torch.equal(filled[..., :2], colour[..., :2])
    assert torch.allclose(filled[..., 4:, 2:], torch.tensor([200.0, 100.0, 50.0])[:, None, None], atol=2)


# ---------------------------------------------------------------- self-ensemble and batching


def test_self_ensemble_path_equals_restore_ensemble() -> None:
    network = _tiny_rcan(2)
    image = _random_image((14, 11, 3), np.float32, seed=4)
    result = Upscaler(network, 2, tile=None, self_ensemble=True, device="cpu").upscale_array(image)
    with torch.inference_mode():
        expected = self_ensemble(network, torch.from_numpy(image).permute(2, 0, 1)[None] * 255)
    expected = (expected[0].permute(1, 2, 0) / 255).clamp(0, 1).numpy()
    assert np.abs(result - expected).max() < 1e-5


def test_self_ensemble_runs_per_tile() -> None:
    # Bicubic is local, so an ensemble of tiles must equal the ensemble of the whole image.
    image = _random_image((30, 26, 3), np.uint8, seed=5)
    tiled = Upscaler("bicubic", 2, tile=16, overlap=8, self_ensemble=True, device="cpu").upscale_array(image)
    whole = Upscaler("bicubic", 2, tile=None, self_ensemble=True, device="cpu").upscale_array(image)
    plain = Upscaler("bicubic", 2, tile=None, device="cpu").upscale_array(image)
    assert np.abs(tiled.astype(int) - whole).max() <= 1  # averages of 8 land on .5; float blending may tip them
    assert not np.array_equal(whole, plain)  # the 8 transforms did run: uint8 passes round differently


def test_batch_equals_one_by_one_in_input_order() -> None:
    upscaler = Upscaler(_tiny_rcan(2), 2, tile=None, device="cpu")
    images = [_random_image((10, 12, 3), np.uint8, seed=s) for s in range(3)]
    images.insert(1, _random_image((7, 9, 4), np.uint16, seed=9))
    batched = upscaler.upscale_batch(images)
    assert [b.shape for b in batched] == [(20, 24, 3), (14, 18, 4), (20, 24, 3), (20, 24, 3)]
    for image, result in zip(images, batched):
        assert result.dtype == image.dtype
        assert np.abs(result.astype(np.int64) - upscaler.upscale_array(image)).max() <= 1


# ---------------------------------------------------------------- api


def test_upscale_reads_paths_and_is_exported_lazily(tmp_path) -> None:
    image = _random_image((8, 6, 3), np.uint8, seed=6)
    path = tmp_path / "small.png"
    Image.fromarray(image).save(path)
    from_path = restore.upscale(path, model="bicubic", scale=2, tile=None, device="cpu")
    from_array = restore.upscale(image, model="bicubic", scale=2, tile=None, device="cpu")
    np.testing.assert_array_equal(from_path, from_array)
    assert from_path.shape == (16, 12, 3)
    assert restore.Upscaler is Upscaler
