"""Benchmark zoo models on the standard sets under the papers' protocol.

For every (model, scale, dataset): each HR image is modcropped to the scale; its LR is the set's own
MATLAB-made LR file, or, where the set ships none at that scale, ``imresize(modcrop(HR, s), 1/s)``
computed here bit-exactly; the model upscales the LR to uint8 (the papers' outputs are 8-bit PNGs);
PSNR and SSIM are taken on MATLAB luma with ``scale`` border pixels shaved. A single-channel image
(Set14 "bridge") is repeated to three channels before the network and before scoring, as the
authors' scripts do.

Under torchrun (a launched :class:`restore.distributed.World`) the images of each (model, scale, set) are
shared out between the ranks, balanced by pixels, and every rank gathers all the scores, so each holds the
run one process would have made; only the timings differ (per-image ``seconds``, and the sums and
``total_seconds`` built from them), as they do between any two runs.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from restore.datasets import Dataset, check_dataset, get_dataset
from restore.distributed import World, balanced_shares, pixel_weight
from restore.errors import DataError, RestoreError, WeightsError
from restore.io.image import read_image
from restore.metrics.imresize import bicubic_degrade, modcrop
from restore.metrics.psnr_ssim import psnr, ssim

__all__ = ["PROTOCOL", "BenchmarkRun", "ImageScore", "SetResult", "run_benchmark"]

PROTOCOL = (
    "Y channel, BT.601 16–235 (MATLAB rgb2ycbcr), border crop = scale, output rounded to uint8, "
    "LR = MATLAB bicubic"
)


@dataclass
class ImageScore:
    name: str
    psnr: float
    ssim: float
    seconds: float  # the model's time on this image (LR in, uint8 SR out)
    lpips: float | None = None


@dataclass
class SetResult:
    """One (model, dataset, scale): mean scores, the model's size and time, and every image."""

    model: str
    dataset: str
    scale: int
    params: int
    images: list[ImageScore] = field(default_factory=list)

    @property
    def psnr(self) -> float:
        return float(np.mean([image.psnr for image in self.images]))

    @property
    def ssim(self) -> float:
        return float(np.mean([image.ssim for image in self.images]))

    @property
    def lpips(self) -> float | None:
        values = [image.lpips for image in self.images]
        return None if any(value is None for value in values) else float(np.mean(values))

    @property
    def seconds(self) -> float:
        """Total model time over the set's images."""
        return float(sum(image.seconds for image in self.images))

    @property
    def seconds_per_image(self) -> float:
        return self.seconds / len(self.images)


@dataclass
class BenchmarkRun:
    """Everything one benchmark produced; :meth:`to_json` is the report's JSON."""

    results: list[SetResult]
    absent: dict[str, str]  # dataset -> what is missing and where it goes
    warnings: list[str]
    lpips_requested: bool
    lpips_note: str  # why LPIPS was not computed ("" when it was)
    device: str
    self_ensemble: bool
    precision: str
    total_seconds: float

    @property
    def lpips_computed(self) -> bool:
        return self.lpips_requested and not self.lpips_note

    def to_json(self) -> dict[str, Any]:
        results = []
        for result in self.results:
            row: dict[str, Any] = {"model": result.model, "dataset": result.dataset, "scale": result.scale,
                                   "psnr": result.psnr, "ssim": result.ssim}
            if self.lpips_computed:
                row["lpips"] = result.lpips
            row.update(seconds=result.seconds, seconds_per_image=result.seconds_per_image, params=result.params)
            images = []
            for image in result.images:
                entry: dict[str, Any] = {"name": image.name, "psnr": image.psnr, "ssim": image.ssim}
                if self.lpips_computed:
                    entry["lpips"] = image.lpips
                entry["seconds"] = image.seconds
                images.append(entry)
            row["images"] = images
            results.append(row)
        return {
            "results": results,
            "protocol": PROTOCOL,
            "absent": [{"dataset": name, "message": message} for name, message in self.absent.items()],
            "lpips": {"requested": self.lpips_requested, "computed": self.lpips_computed, "note": self.lpips_note},
            "self_ensemble": self.self_ensemble,
            "precision": self.precision,
            "device": self.device,
            "total_seconds": self.total_seconds,
            "warnings": self.warnings,
        }


def _expand_weights(weights: str | os.PathLike | None, scale: int) -> str | None:
    """``weights`` with any ``{scale}`` placeholder filled (``RCAN_BIX{scale}.pt``)."""
    if weights is None:
        return None
    path = str(weights).replace("{scale}", str(scale))
    if not Path(path).is_file():
        raise WeightsError(f"--weights {path}: no such file")
    return path


def _params(model: str | torch.nn.Module, scale: int) -> int:
    from restore.zoo import count_params, find_entry

    if isinstance(model, torch.nn.Module):
        return sum(tensor.numel() for tensor in model.state_dict().values())

    entry = find_entry(model, scale)
    return count_params(entry.arch, entry.scale, json.dumps(entry.config, sort_keys=True))


def _present_sets(
    names: list[str], data_root: str | os.PathLike | None
) -> tuple[list[Dataset], dict[str, str], list[str]]:
    """The requested sets that are on disk (checked against the registry by counts and sizes), the absent
    ones with their messages, and warnings. A set present but incomplete or altered is an error."""
    present, absent, warnings = [], {}, []
    for name in names:
        dataset = get_dataset(name, data_root)
        if dataset.name in absent or any(found.name == dataset.name for found in present):
            continue
        report = check_dataset(dataset.name, data_root, verify_checksums=False)
        if not report.present:
            absent[dataset.name] = report.absent_message
            continue
        problems = [f"{dataset.name}: {problem}" for problem in report.count_problems]
        problems += [f"{dataset.name}: missing {report.folder / path}" for path in report.missing]
        problems += [f"{dataset.name}: {report.folder / m.path}: {m.what} is {m.actual}, expected {m.expected}"
                     for m in report.mismatches]
        if problems:
            shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
            raise DataError("\n".join(shown + ["`restore datasets check` verifies every checksum"]))
        warnings += [f"{dataset.name}: ignoring unexpected file {report.folder / path}" for path in report.extra]
        present.append(dataset)
    return present, absent, warnings


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    """Shape: (H, W, C) uint8 -> (1, C, H, W) uint8."""
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).unsqueeze(0)


def _to_array(image: torch.Tensor) -> np.ndarray:
    """Shape: (1, C, H, W) uint8 -> (H, W, 3) uint8, a single channel repeated to three."""
    array = image[0].permute(1, 2, 0).numpy()
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else np.ascontiguousarray(array)


def _load_pair(dataset: Dataset, hr_path: Path, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """The modcropped HR and its LR, both RGB uint8 (H, W, 3); the LR from the set's file when it has one."""
    hr = modcrop(_as_tensor(read_image(hr_path)), scale)
    lr_path = dataset.lr_path(hr_path.stem, scale)
    if lr_path is None:
        lr = bicubic_degrade(hr, scale)
    else:
        lr = _as_tensor(read_image(lr_path))
        expected = (hr.shape[-2] // scale, hr.shape[-1] // scale)
        if tuple(lr.shape[-2:]) != expected:
            raise DataError(
                f"{lr_path}: size {lr.shape[-1]}x{lr.shape[-2]} is not its HR {hr_path.name} cropped to a "
                f"multiple of {scale} and divided by {scale} ({expected[1]}x{expected[0]})"
            )
    return _to_array(hr), _to_array(lr)


def _lpips_model(device: torch.device) -> tuple[Any, str]:
    """The AlexNet LPIPS on ``device``, or None and the reason it cannot be built."""
    try:
        from restore.metrics.lpips import LPIPS

        return LPIPS("alex").to(device), ""
    except WeightsError as exc:
        return None, f"LPIPS was not computed: {exc}"
    except ImportError as exc:
        return None, f"LPIPS was not computed: the lpips package is not installed ({exc})"


def _unit_rgb(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """Shape: (H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1]."""
    return _as_tensor(array).to(device=device, dtype=torch.float32) / 255.0


def _score_image(upscaler: Any, dataset: Dataset, hr_path: Path, scale: int, lpips_model: Any) -> ImageScore:
    """One image through the model and the metrics."""
    hr, lr = _load_pair(dataset, hr_path, scale)
    tick = time.perf_counter()
    sr = upscaler.upscale_array(lr)
    seconds = time.perf_counter() - tick
    if sr.shape != hr.shape:
        raise DataError(f"{hr_path}: the model returned {sr.shape[1]}x{sr.shape[0]} for an HR of "
                        f"{hr.shape[1]}x{hr.shape[0]} (x{scale} of {lr.shape[1]}x{lr.shape[0]})")
    sr_tensor, hr_tensor = _as_tensor(sr), _as_tensor(hr)
    score = ImageScore(
        hr_path.stem,
        float(psnr(sr_tensor, hr_tensor, crop_border=scale)[0]),
        float(ssim(sr_tensor, hr_tensor, crop_border=scale)[0]),
        seconds,
    )
    if lpips_model is not None:
        with torch.inference_mode():
            distance = lpips_model(_unit_rgb(sr, upscaler.device), _unit_rgb(hr, upscaler.device))
        score.lpips = float(distance[0])
    return score


def run_benchmark(
    models: list[str | torch.nn.Module],
    scales: list[int],
    datasets: list[str],
    *,
    data_root: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    self_ensemble: bool = False,
    lpips: bool = False,
    device: str = "auto",
    tile: int | None = None,
    precision: str = "fp32",
    progress: Callable[[str], None] | None = None,
    world: World | None = None,
) -> BenchmarkRun:
    """Score every (model, scale) on every requested set that is present.

    Args:
        models: zoo names (``restore zoo`` lists them; ``bicubic`` needs no weights), or networks in hand
            (a run being evaluated, e.g. by ``scripts/attention_ablation.py``), reported by class name.
        scales: integer scales; each model must have an entry at each.
        datasets: set names or aliases (B100 = BSD100). Absent sets are skipped and reported in
            ``BenchmarkRun.absent``; DataError when none is present, or when one is present but
            incomplete or altered.
        weights: a checkpoint for a single model; ``{scale}`` in the path is replaced by each scale.
        self_ensemble: average the 8 flips/transposes (x8 time).
        lpips: also compute LPIPS (AlexNet) on RGB; skipped, with the reason in ``lpips_note``, when
            its backbone is not cached.
        tile: LR tile side for large images (None: whole images).
        precision: ``"fp32"`` (default, for comparable numbers), ``"auto"``, ``"fp16"`` or ``"bf16"``.
        progress: called with one line per finished (model, dataset, scale).
        world: this rank under torchrun (default: one process); every rank must call with the same arguments.
    """
    from restore.engine import Upscaler

    world = world or World()
    if not models or not scales or not datasets:
        raise DataError("give at least one model, one scale and one dataset")
    if any(scale < 1 for scale in scales):
        raise DataError(f"scales must be positive integers, got {scales}")
    if weights is not None and len(models) > 1:
        raise DataError("--weights applies to one model; benchmark models with their own weights one at a time")
    started = time.perf_counter()
    # Models first: a model that cannot run is the user's to fix whatever data the machine holds.
    upscalers = {}
    for model in models:
        for scale in scales:
            try:
                upscalers[model, scale] = Upscaler(model, scale, _expand_weights(weights, scale), tile=tile,
                                                   self_ensemble=self_ensemble, precision=precision,
                                                   device=world.device(device))
            except ValueError as exc:  # an unavailable device, an invalid tile or precision
                raise RestoreError(f"cannot set up {model} x{scale}: {exc}") from exc
    present, absent, warnings = _present_sets(datasets, data_root)
    if not present:
        raise DataError("no requested dataset is present:\n" + "\n".join(absent.values()))
    any_upscaler = next(iter(upscalers.values()))
    lpips_model, lpips_note = (None, "")
    if lpips:
        lpips_model, lpips_note = _lpips_model(any_upscaler.device)
    else:
        lpips_note = "LPIPS was not requested (--lpips)"

    results = []
    for (model, scale), upscaler in upscalers.items():
        params = _params(model, scale)
        for dataset in present:
            result = SetResult(upscaler.model_name, dataset.name, scale, params)
            hr_paths = dataset.hr_paths()
            own = (balanced_shares([pixel_weight(path) for path in hr_paths], world.size)[world.rank]
                   if world.launched else range(len(hr_paths)))
            scores = {index: _score_image(upscaler, dataset, hr_paths[index], scale, lpips_model) for index in own}
            if world.launched:
                scores = {index: score for part in world.all_gather(scores) for index, score in part.items()}
            result.images = [scores[index] for index in range(len(hr_paths))]
            results.append(result)
            if progress is not None:
                lpips_text = f"  LPIPS {result.lpips:.4f}" if result.lpips is not None else ""
                progress(f"{result.model} x{scale} {dataset.name}: PSNR {result.psnr:.2f}  SSIM {result.ssim:.4f}"
                         f"{lpips_text}  ({len(result.images)} images, {result.seconds:.2f} s)")
    return BenchmarkRun(
        results=results, absent=absent, warnings=warnings, lpips_requested=lpips, lpips_note=lpips_note,
        device=str(any_upscaler.device), self_ensemble=self_ensemble, precision=precision,
        total_seconds=time.perf_counter() - started,
    )
