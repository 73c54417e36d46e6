"""What the app's buttons do, as plain functions over the Python API (no Gradio here, so tests call them).

Each handler takes file paths and plain values, writes its result file under the config's output folder,
and returns a small dataclass the UI spreads over its components. Failures are RestoreErrors with a
message for the user; :mod:`restore.app.errors` turns them into messages in the page.
"""
from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from restore.app.bench_rows import bench_command, fixed_decimals
from restore.app.config import PREVIEW_MAX_SIDE, AppConfig
from restore.app.limits import check_work_limit
from restore.app.zoo_table import model_choices, models_markdown
from restore.engine.tile_option import parse_tile
from restore.errors import DataError, RestoreError
from restore.io import header_size
from restore.io.suffixes import OUTPUT_SUFFIX

if TYPE_CHECKING:
    from restore.archs.sanet import SANet

__all__ = [
    "BenchmarkResult", "StyleResult", "UpscaleResult", "benchmark_datasets", "check_pixel_limit",
    "megapixels", "model_choices", "models_markdown", "parse_tile", "run_benchmark_job", "stylize_image",
    "style_model_notice", "upscale_image",
]

_BENCHMARK_COLUMNS = ["image", "PSNR (dB)", "SSIM", "seconds"]


# ---------------------------------------------------------------------------------------------- shared


def megapixels(pixels: int) -> str:
    """A pixel count for people: "16.0 MP", or the exact count below a tenth of a megapixel."""
    return f"{pixels / 1e6:.1f} MP" if pixels >= 100_000 else f"{pixels:,} pixels"


def check_pixel_limit(path: str | os.PathLike, max_pixels: int) -> tuple[int, int]:
    """Refuse an image above ``max_pixels`` from its header, before decoding; return (width, height).

    A file Pillow cannot identify passes here and gets :func:`restore.io.load`'s own message later.
    """
    name = Path(path).name
    try:
        size = header_size(path)
    except DataError:
        raise DataError(f"{name} is far too large: this app accepts images up to {megapixels(max_pixels)}") from None
    if size is None:  # not something Pillow reads: restore.io.load explains what is wrong with it
        return 0, 0
    width, height = size
    if width * height > max_pixels:
        raise DataError(
            f"{name} is {width}x{height} = {megapixels(width * height)}; this app accepts images up to "
            f"{megapixels(max_pixels)}. Downscale or crop it, or start the app with a higher limit "
            f"(restore app --max-pixels N, or RESTORE_APP_MAX_PIXELS)."
        )
    return width, height


def _job_folder(root: Path) -> Path:
    """A fresh folder for one job's outputs (see :mod:`restore.app.jobs`)."""
    from restore.app.jobs import new_job_folder

    return new_job_folder(root)


def _required_path(path: str | os.PathLike | None, what: str) -> Path:
    if not path:
        raise DataError(f"upload {what} first")
    return Path(path)


def _display_pixels(pixels: np.ndarray) -> np.ndarray:
    """Pixels a browser shows: 8-bit RGB or RGBA. Shape: (H, W, 1|2|3|4) uint8/uint16 -> (H, W, 3|4) uint8."""
    from restore.io.picture import to_8bit

    pixels = to_8bit(pixels)
    if pixels.shape[2] in (1, 2):
        colour = np.repeat(pixels[..., :1], 3, axis=2)
        pixels = colour if pixels.shape[2] == 1 else np.concatenate([colour, pixels[..., 1:]], axis=2)
    return np.ascontiguousarray(pixels)


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    factor = min(1.0, max_side / max(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def _resized(pixels: np.ndarray, size: tuple[int, int], method: int) -> np.ndarray:
    """Shape: (H, W, 3|4) uint8 -> (size[1], size[0], 3|4) uint8."""
    if (pixels.shape[1], pixels.shape[0]) == size:
        return pixels
    return np.asarray(Image.fromarray(pixels).resize(size, method))


# ---------------------------------------------------------------------------------------------- upscale


@dataclass(frozen=True)
class UpscaleResult:
    """``before``: the input upscaled with bicubic; ``after``: the model's output. Both are 8-bit previews
    of one size (the output's, shrunk to fit ``PREVIEW_MAX_SIDE``); ``output_path`` is the full result."""

    before: np.ndarray
    after: np.ndarray
    output_path: Path
    seconds: float
    summary: str




def _output_format(source_format: str | None) -> str:
    return source_format if source_format in OUTPUT_SUFFIX else "png"


def _previews(source: np.ndarray, output: np.ndarray, scale: int, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Bicubic-upscaled input and model output at one preview size.

    Shape: (h, w, C), (H, W, C) -> (H', W', 3|4) twice, (H', W') = (H, W) shrunk to fit ``max_side``.
    """
    from restore.engine.api import upscale

    height, width = output.shape[:2]
    size = _fit(width, height, max_side)
    if size == (width, height):
        # At full size the "before" is exactly the bicubic baseline the models are scored against.
        before = _display_pixels(upscale(source, "bicubic", scale, device="cpu", tile=None))
        return before, _display_pixels(output)
    before = _resized(_display_pixels(source), size, Image.BICUBIC)
    return before, _resized(_display_pixels(output), size, Image.LANCZOS)


def upscale_image(
    path: str | os.PathLike | None,
    model: str = "bicubic",
    scale: int = 4,
    *,
    tile: str | int | None = "auto",
    self_ensemble: bool = False,
    precision: str = "auto",
    config: AppConfig | None = None,
) -> UpscaleResult:
    """Upscale an uploaded file with a zoo model; the result keeps the input's format, bit depth and alpha.

    Formats restore cannot write (GIF, BMP...) come back as PNG. Shape: (h, w, C) -> (scale*h, scale*w, C).
    """
    from restore.engine.api import upscale
    from restore.io import load, save

    config = config or AppConfig()
    source_path = _required_path(path, "an image")
    scale = int(scale)
    check_pixel_limit(source_path, config.max_pixels)
    picture = load(source_path, max_pixels=config.max_pixels)
    check_work_limit(source_path.name, picture.width, picture.height, scale, bool(self_ensemble), config.max_work)
    started = time.perf_counter()
    pixels = upscale(picture, model or "bicubic", scale, tile=parse_tile(tile), self_ensemble=bool(self_ensemble),
                     precision=precision or "auto", device=config.device)
    seconds = time.perf_counter() - started
    result = picture.with_pixels(pixels)
    fmt = _output_format(picture.source_format)
    output_path = _job_folder(config.output_dir) / f"{source_path.stem}_{model}_x{scale}{OUTPUT_SUFFIX[fmt]}"
    save(output_path, result, format=fmt)
    before, after = _previews(picture.pixels, pixels, scale, PREVIEW_MAX_SIDE)
    shrunk = " (preview shrunk to fit; the download is full size)" if after.shape[:2] != pixels.shape[:2] else ""
    summary = (
        f"**{model} x{scale}**: {picture.width}×{picture.height} → {result.width}×{result.height}, "
        f"{result.mode} {result.bit_depth}-bit {fmt.upper()}, in **{seconds:.2f} s**{shrunk}"
    )
    return UpscaleResult(before, after, output_path, seconds, summary)


# ---------------------------------------------------------------------------------------------- style


@dataclass(frozen=True)
class StyleResult:
    image: np.ndarray  # (H, W, 3) uint8, the content's size
    output_path: Path
    seconds: float
    summary: str


def _style_model_path(style_model: str | os.PathLike | None) -> Path:
    from restore.style import models

    return Path(style_model) if style_model else models.DEFAULT_STYLE_MODEL


def style_model_notice(style_model: str | os.PathLike | None = None) -> str:
    """One Markdown line: which style model the tab uses, or how to get one when it is missing."""
    from restore.style.models import HOW_TO_GET

    path = _style_model_path(style_model)
    if path.is_file():
        return f"Style model: `{path.name}`."
    return f"**No style model is installed** ({path.name} is missing): {HOW_TO_GET}."


@functools.lru_cache(maxsize=1)
def _style_network(path: str, modified_ns: int) -> SANet:
    """The loaded SANet, kept between jobs (building it reads the VGG-16 backbone); a new file reloads."""
    from restore.style.models import load_style_model

    return load_style_model(path)


def stylize_image(
    content_path: str | os.PathLike | None,
    style_paths: Sequence[str | os.PathLike] | str | os.PathLike | None,
    alpha: float = 1.0,
    preserve_color: bool = False,
    *,
    config: AppConfig | None = None,
) -> StyleResult:
    """Render the content in the mix of the given styles (SANet); the result is an 8-bit RGB PNG.

    Shape: content (H, W, C) -> (H, W, 3).
    """
    from restore.io import save
    from restore.style.stylize import stylize

    config = config or AppConfig()
    content = _required_path(content_path, "a content image")
    if isinstance(style_paths, (str, os.PathLike)):
        style_paths = [style_paths]
    styles = [Path(path) for path in (style_paths or [])]
    if not styles:
        raise DataError("upload at least one style image")
    for path in [content, *styles]:
        check_pixel_limit(path, config.max_pixels)
    model_path = _style_model_path(config.style_model)
    if not model_path.is_file():
        from restore.style.models import load_style_model

        load_style_model(model_path)  # raises the API's WeightsError, which says how to get a model
    started = time.perf_counter()
    network = _style_network(str(model_path), model_path.stat().st_mtime_ns)
    try:
        pixels = stylize(content, styles, alpha=float(alpha), preserve_color=bool(preserve_color), model=network)
    except ValueError as exc:
        raise RestoreError(f"cannot stylize with these settings: {exc}") from exc
    seconds = time.perf_counter() - started
    output_path = _job_folder(config.output_dir) / f"{content.stem}_stylized.png"
    save(output_path, pixels)
    names = ", ".join(path.stem for path in styles)
    summary = (f"**{content.stem}** in the style of {names} (alpha {float(alpha):.2f}"
               f"{', colours kept' if preserve_color else ''}), {pixels.shape[1]}×{pixels.shape[0]}, "
               f"in **{seconds:.2f} s**")
    return StyleResult(pixels, output_path, seconds, summary)


# ---------------------------------------------------------------------------------------------- benchmark


@dataclass(frozen=True)
class BenchmarkResult:
    """Per-image rows (and a mean row) for a table, the report's chart and its Markdown headline."""

    columns: list[str]
    rows: list[list[object]]
    chart_path: Path
    report_dir: Path
    summary: str
    published: list[tuple[str, float]] = field(default_factory=list)


def benchmark_datasets(data_root: str | os.PathLike | None = None) -> list[str]:
    """The benchmark sets with images under the data root, in registry order."""
    from restore.datasets import get_dataset, list_datasets

    return [spec.name for spec in list_datasets()
            if spec.role == "benchmark" and get_dataset(spec.name, data_root).is_present()]


def run_benchmark_job(model: str, scale: int, dataset: str | None, *, config: AppConfig | None = None) -> BenchmarkResult:
    """Score ``model`` at ``scale`` on one present set under the papers' protocol; write the full report."""
    from restore.evaluation import run_benchmark
    from restore.evaluation.published import published_scores
    from restore.evaluation.report import write_report

    config = config or AppConfig()
    if not dataset:
        raise DataError("choose a dataset (none of the benchmark sets is under the data root)")
    scale = int(scale)
    run = run_benchmark([model or "bicubic"], [scale], [dataset], data_root=config.data_root, device=config.device,
                        precision="fp32")
    report_dir = _job_folder(config.output_dir)
    paths = write_report(run, report_dir, command=bench_command(model or "bicubic", scale, dataset, config.data_root))
    result = run.results[0]
    rows = [fixed_decimals(image.name, image.psnr, image.ssim, image.seconds) for image in result.images]
    rows.append(fixed_decimals("mean", result.psnr, result.ssim, result.seconds_per_image))
    published = [(row.method, row.psnr) for row in sorted(published_scores(result.dataset, scale), key=lambda r: r.psnr)]
    beside = "; ".join(f"{method} {psnr:.2f}" for method, psnr in published)
    summary = (f"**{result.model} x{scale} on {result.dataset}**: PSNR **{result.psnr:.2f} dB**, SSIM "
               f"{result.ssim:.4f} over {len(result.images)} images, {result.seconds_per_image:.3f} s per image "
               f"({run.device}).")
    if beside:
        summary += f"\n\nPublished at x{scale} on {result.dataset} (dB): {beside}."
    return BenchmarkResult(_BENCHMARK_COLUMNS, rows, paths["chart"], report_dir, summary, published)
