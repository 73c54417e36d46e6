"""What the app's buttons do, as plain functions over the Python API (no Gradio here, so tests call them).

Each handler takes file paths and plain values, writes its result file under the config's output folder,
and returns a small dataclass the UI spreads over its components. Failures are RestoreErrors with a
message for the user; :mod:`restore.app.errors` turns them into messages in the page.
"""
from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
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
    from restore.archs.sanet import SANet, VGG16Encoder

__all__ = [
    "STYLE_METHODS", "BenchmarkResult", "StyleResult", "UpscaleResult", "benchmark_datasets", "beside_paintings",
    "check_pixel_limit", "megapixels", "model_choices", "models_markdown", "parse_tile", "run_benchmark_job",
    "style_estimate", "stylize_image", "style_model_notice", "upscale_image",
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

STYLE_METHODS = ("sanet", "optimize")
# White space between the result and the painting(s) in the preview, and between paintings.
PREVIEW_GAP = 8


@dataclass(frozen=True)
class StyleResult:
    """``image``: the result, the content's size (or ``size``); ``preview``: the result with the painting(s)
    beside it, shrunk to fit ``PREVIEW_MAX_SIDE``; ``output_path``: the result alone, as a PNG."""

    image: np.ndarray  # (H, W, 3) uint8
    preview: np.ndarray  # (h, w', 3) uint8
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


@functools.lru_cache(maxsize=1)
def _optimize_encoder() -> VGG16Encoder:
    """The frozen VGG-16 that ``optimize`` runs against, built once."""
    from restore.style.build import build_vgg16_encoder

    return build_vgg16_encoder()


def _style_list(style_paths: Sequence[str | os.PathLike] | str | os.PathLike | None) -> list[Path]:
    if isinstance(style_paths, (str, os.PathLike)):
        style_paths = [style_paths]
    return [Path(path) for path in (style_paths or [])]


def _check_method(method: str, styles: list[Path]) -> None:
    if method not in STYLE_METHODS:
        raise DataError(f"unknown method {method!r}: choose {' or '.join(STYLE_METHODS)}")
    if method == "optimize" and len(styles) > 1:
        raise DataError(f"optimize renders one painting at a time ({len(styles)} given): keep one, or use sanet "
                        "to mix them")


def _iterations(iterations: Sequence[int] | None) -> tuple[int, int]:
    from restore.style.optimize import DEFAULT_ITERATIONS

    first, finer = iterations if iterations is not None else DEFAULT_ITERATIONS
    if int(first) < 1 or int(finer) < 1:
        raise DataError(f"iterations must be positive, got {first} and {finer}")
    return int(first), int(finer)


def _optimize_work(height: int, width: int, size: int | None, iterations: tuple[int, int], max_work: int,
                   name: str) -> None:
    """Refuse an optimize job above ``max_work`` pixel-iterations (every scale's pixels times its iterations:
    each iteration is a forward and backward pass of VGG-16 over them)."""
    from restore.style.optimize import optimize_plan

    work = sum(rows * columns * budget for (rows, columns), budget in optimize_plan(height, width, size, iterations))
    if work > max_work:
        raise DataError(
            f"{name} at this size with {iterations[0]}/{iterations[1]} iterations is {megapixels(work)} of "
            f"optimisation work; this app allows {megapixels(max_work)} per job (pixels x iterations). Choose a "
            "smaller size or fewer iterations, or use sanet; a deployment raises the limit with restore app "
            "--max-work N (RESTORE_APP_MAX_WORK)."
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 600:
        return f"{seconds / 60:.1f} min"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def style_estimate(
    content_path: str | os.PathLike | None,
    style_paths: Sequence[str | os.PathLike] | str | os.PathLike | None,
    method: str = "sanet",
    size: int | None = None,
    alpha: float = 1.0,
    iterations: Sequence[int] | None = None,
    *,
    config: AppConfig | None = None,
) -> str:
    """One Markdown paragraph: which method will run, and about how long it will take for the uploaded
    sizes and these settings (per-megapixel CPU costs measured once, ``restore/data/style_cost.json``).

    Reads only the images' headers. A problem the run would refuse (too large, too many paintings for
    optimize) is said here rather than raised.
    """
    from restore.app.errors import page_message
    from restore.style.cost import optimize_seconds, sanet_seconds
    from restore.style.stylize import long_side_shape

    config = config or AppConfig()
    styles = _style_list(style_paths)
    if method == "optimize":
        first, finer = _iterations(iterations)
        about = (f"**optimize** will run: pixel optimisation against VGG-16 ({first} L-BFGS iterations at 128 px, "
                 f"{finer} at each finer scale); alpha and mixing do not apply")
    else:
        about = "**sanet** will run: the trained network, one pass" + (", paintings mixed equally" if len(styles) > 1
                                                                        else "")
    if not content_path:
        return f"{about}. Upload a content image for a time estimate."
    try:
        _check_method(method, styles)
        width, height = check_pixel_limit(content_path, config.max_pixels)
        style_sizes = [check_pixel_limit(path, config.max_pixels)[::-1] for path in styles]
        if not width or not all(rows for rows, _ in style_sizes):
            return f"{about}. (No estimate: restore cannot read one of the images; running says why.)"
        rows, columns = long_side_shape(height, width, size) if size else (height, width)
        if method == "optimize":
            _optimize_work(height, width, size, (first, finer), config.max_work, Path(content_path).name)
            seconds = optimize_seconds((height, width), size, (first, finer))
        else:
            if not styles:
                return f"{about}. Add a painting for a time estimate."
            if float(alpha) == 0:
                return f"{about}. At alpha 0 it returns the content itself ({columns}×{rows}): nothing to compute."
            seconds = sanet_seconds((height, width), style_sizes, float(alpha), size)
    except RestoreError as exc:
        return f"{about}. **Will not run:** {page_message(exc)}"
    return (f"{about}. Estimated time for {columns}×{rows}: about **{_duration(seconds)}** on one CPU thread "
            "(from per-megapixel costs measured once; more threads finish sooner, a GPU much sooner).")


def _rgb(path: Path) -> np.ndarray:
    """Shape: -> (H, W, 3) uint8."""
    from restore.style.stylize import _as_rgb_uint8

    return _as_rgb_uint8(path, path.name)


def beside_paintings(result: np.ndarray, paintings: Sequence[np.ndarray], max_side: int = PREVIEW_MAX_SIDE,
                     gap: int = PREVIEW_GAP) -> np.ndarray:
    """The result with the paintings in a column to its right, each fitted to an equal share of the result's
    height, on white; the whole shrunk to fit ``max_side``. Shape: (H, W, 3), K x (h_k, w_k, 3) -> (H', W', 3)."""
    height, width = result.shape[:2]
    share = max(1, (height - gap * (len(paintings) - 1)) // len(paintings))
    fitted = []
    for painting in paintings:
        rows, columns = painting.shape[:2]
        size = (max(1, round(columns * share / rows)), share)
        fitted.append(_resized(painting, size, Image.LANCZOS))
    column_width = max(painting.shape[1] for painting in fitted)
    canvas = np.full((height, width + gap + column_width, 3), 255, np.uint8)
    canvas[:, :width] = result
    top = 0
    for painting in fitted:
        canvas[top:top + painting.shape[0], width + gap:width + gap + painting.shape[1]] = painting
        top += painting.shape[0] + gap
    return _resized(canvas, _fit(canvas.shape[1], canvas.shape[0], max_side), Image.LANCZOS)


def stylize_image(
    content_path: str | os.PathLike | None,
    style_paths: Sequence[str | os.PathLike] | str | os.PathLike | None,
    alpha: float = 1.0,
    preserve_color: bool = False,
    *,
    method: str = "sanet",
    size: int | None = None,
    iterations: Sequence[int] | None = None,
    palette: str = "painting",
    config: AppConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StyleResult:
    """Render the content in the style of the painting(s); the result is an 8-bit RGB PNG.

    ``method``: "sanet" (the trained network; several paintings are mixed equally) or "optimize" (the pixels
    optimised against VGG-16, one painting, ``iterations`` = L-BFGS iterations at the first and at each finer
    scale; ``alpha`` and ``palette`` do not apply). ``size``: the long side of the result (None: the content's own).
    ``palette``: "painting" (the painting's L*a*b* mean and spread) or "network" (the decoder's own colours).
    ``progress(done, total)`` follows optimize's loss evaluations.

    Shape: content (H, W, C) -> (H, W, 3), or the long side ``size``.
    """
    from restore.io import save
    from restore.style.optimize import optimize_stylize
    from restore.style.stylize import stylize

    config = config or AppConfig()
    content = _required_path(content_path, "a content image")
    styles = _style_list(style_paths)
    if not styles:
        raise DataError("upload at least one style image")
    _check_method(method, styles)
    size = int(size) if size else None
    for path in [content, *styles]:
        check_pixel_limit(path, config.max_pixels)
    started = time.perf_counter()
    try:
        if method == "optimize":
            rounds = _iterations(iterations)
            content_pixels = _rgb(content)
            _optimize_work(*content_pixels.shape[:2], size, rounds, config.max_work, content.name)
            pixels = optimize_stylize(content_pixels, _rgb(styles[0]), size=size, iterations=rounds,
                                      preserve_color=bool(preserve_color), progress=progress,
                                      encoder=_optimize_encoder())
            how = f"optimize, {rounds[0]}/{rounds[1]} iterations"
        else:
            model_path = _style_model_path(config.style_model)
            if not model_path.is_file():
                from restore.style.models import load_style_model

                load_style_model(model_path)  # raises the API's WeightsError, which says how to get a model
            network = _style_network(str(model_path), model_path.stat().st_mtime_ns)
            pixels = stylize(content, styles, alpha=float(alpha), preserve_color=bool(preserve_color), size=size,
                             model=network, palette=palette)
            how = f"sanet, alpha {float(alpha):.2f}" + (", the network's colours" if palette == "network" else "")
    except ValueError as exc:
        raise RestoreError(f"cannot stylize with these settings: {exc}") from exc
    seconds = time.perf_counter() - started
    output_path = _job_folder(config.output_dir) / f"{content.stem}_stylized.png"
    save(output_path, pixels)
    preview = beside_paintings(pixels, [_rgb(path) for path in styles])
    names = ", ".join(path.stem for path in styles)
    summary = (f"**{content.stem}** in the style of {names} ({how}{', colours kept' if preserve_color else ''}), "
               f"{pixels.shape[1]}×{pixels.shape[0]}, in **{seconds:.2f} s**. The preview shows the painting "
               "beside the result; the download is the result alone.")
    return StyleResult(pixels, preview, output_path, seconds, summary)


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
