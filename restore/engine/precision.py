"""Device, numeric precision and memory layout of an inference run.

Policy:

* ``device="auto"``: CUDA if present, else Apple MPS, else the CPU.
* ``precision="auto"``: float32 on the CPU, float16 on CUDA and MPS, where it halves memory and roughly
  halves time. (The upscaler keeps float32 for 16-bit and float images, whose levels float16 cannot hold.)
* ``"bf16"`` on CUDA falls back to float16 (with a warning) when the card has no bfloat16.
* Half precision on the CPU (``"fp16"`` or ``"bf16"``) falls back to float32 **with a warning** rather
  than failing: CPU half convolutions are slow or missing in many builds and gain no accuracy, and a
  script written for a GPU machine should still run on a laptop. :class:`PrecisionWarning` can be turned
  into an error with ``warnings.simplefilter("error", PrecisionWarning)``.
* channels_last on CUDA (tensor-core convolutions want NHWC) and on the CPU (oneDNN's NHWC convolutions
  were ~6% faster on a compact RCAN here); MPS stays contiguous.
* ``compile=True`` wraps the network in ``torch.compile``; tiles all have one size (see
  :mod:`restore.engine.tiling`), so it compiles once per image size class.
"""
from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from restore.errors import SettingsError

__all__ = ["PrecisionWarning", "memory_format_for", "prepare_model", "resolve_device", "resolve_precision"]

_ALIASES = {
    "auto": "auto",
    "fp32": "fp32",
    "float32": "fp32",
    "float": "fp32",
    "fp16": "fp16",
    "float16": "fp16",
    "half": "fp16",
    "bf16": "bf16",
    "bfloat16": "bf16",
}
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class PrecisionWarning(UserWarning):
    """A requested precision is not available on the device and another one is used."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> cuda, mps or cpu, whichever is available first; anything else as torch reads it."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise SettingsError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(f"device {device!r} requested but CUDA is not available (use device='cpu' or 'auto')")
    return resolved


def _mps_supports_bfloat16() -> bool:
    try:
        torch.zeros(1, dtype=torch.bfloat16, device="mps")
    except (RuntimeError, TypeError):
        return False
    return True


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The dtype the network runs in: ``precision`` is auto, fp32, fp16 or bf16 (or their torch names)."""
    key = _ALIASES.get(str(precision).lower())
    if key is None:
        raise SettingsError(f"unknown precision {precision!r}; choose auto, fp32, fp16 or bf16")
    if device.type not in ("cuda", "mps"):
        if key in ("fp16", "bf16"):
            warnings.warn(
                f"{key} was requested on {device.type}, where half precision is slow or unsupported; using fp32",
                PrecisionWarning,
                stacklevel=2,
            )
        return torch.float32
    if key == "auto":
        return torch.float16
    if key == "bf16":
        supported = torch.cuda.is_bf16_supported() if device.type == "cuda" else _mps_supports_bfloat16()
        if not supported:
            warnings.warn(f"bf16 is not supported on this {device.type} device; using fp16", PrecisionWarning,
                          stacklevel=2)
            return torch.float16
    return _DTYPES[key]


def memory_format_for(device: torch.device) -> torch.memory_format:
    return torch.contiguous_format if device.type == "mps" else torch.channels_last


def prepare_model(
    model: nn.Module, device: torch.device, dtype: torch.dtype, *, compile: bool = False
) -> nn.Module:
    """A copy of ``model`` in eval mode on ``device`` in ``dtype`` and the device's memory format.

    A copy, so the caller's module (often shared, e.g. a cached zoo model) keeps its device and dtype.
    """
    prepared = copy.deepcopy(model).eval().to(device=device, dtype=dtype)
    prepared = prepared.to(memory_format=memory_format_for(device))
    for parameter in prepared.parameters():
        parameter.requires_grad_(False)
    if compile:
        prepared = torch.compile(prepared)
    return prepared
