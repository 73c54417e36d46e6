"""restore: image super-resolution and style transfer, research-exact and fast.

The public API is re-exported here lazily, so ``import restore`` stays light (no torch import
until a network or metric is first used, and never basicsr unless the interop is asked for).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from restore._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "build_model": "restore.archs",
    "list_archs": "restore.archs",
    "load_official": "restore.checkpoint",
    "load": "restore.interop.recognise",
    "recognise": "restore.interop.recognise",
    "CheckpointError": "restore.checkpoint",
    "self_ensemble": "restore.ensemble",
    "load_model": "restore.zoo",
    "list_models": "restore.zoo",
    "imresize": "restore.metrics.imresize",
    "psnr": "restore.metrics.psnr_ssim",
    "ssim": "restore.metrics.psnr_ssim",
    "rgb_to_y": "restore.metrics.color",
    "stylize": "restore.style.stylize",
    "optimize_stylize": "restore.style.optimize",
    "upscale": "restore.engine.api",
    "Upscaler": "restore.engine",
    "get_dataset": "restore.datasets",
    "LPIPS": "restore.metrics.lpips",
}

__all__ = sorted(_EXPORTS) + ["__version__"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from restore.archs import build_model, list_archs
    from restore.checkpoint import CheckpointError, load_official
    from restore.datasets import get_dataset
    from restore.engine import Upscaler
    from restore.engine.api import upscale
    from restore.ensemble import self_ensemble
    from restore.interop.recognise import load, recognise
    from restore.metrics.color import rgb_to_y
    from restore.metrics.imresize import imresize
    from restore.metrics.lpips import LPIPS
    from restore.metrics.psnr_ssim import psnr, ssim
    from restore.style.optimize import optimize_stylize
    from restore.style.stylize import stylize
    from restore.zoo import list_models, load_model
