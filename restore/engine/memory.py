"""How much memory a forward needs, how much is free, and which tile side fits.

What a forward needs is the arch's to say (``ArchSpec.memory``, a :class:`restore.archs.memory.MemoryModel`:
activation elements per LR pixel times the element size, plus a quadratic term for attention). A tile chosen
from it that still does not fit is caught by the out-of-memory retry in :mod:`restore.engine.tiling`, so the
estimate only has to be right to within a factor of about two.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from restore.archs import spec
from restore.archs.memory import SAFETY_FACTOR, MemoryModel, plain_conv_net
from restore.engine.tile_option import MIN_TILE
from restore.errors import RestoreError

__all__ = [
    "EngineOutOfMemoryError",
    "MemoryModel",
    "auto_tile_size",
    "free_memory_bytes",
    "is_out_of_memory",
    "memory_model_for",
]

# The share of the free memory a forward may plan to use: the allocator fragments, and on the CPU the
# machine is shared with whatever else runs there.
CUDA_BUDGET_FRACTION = 0.7
CPU_BUDGET_FRACTION = 0.5
# Tiles are multiples of this: conv kernels and tensor cores prefer aligned sizes, and it keeps the
# automatic choice stable when free memory fluctuates a little.
TILE_ALIGNMENT = 16

_OOM_MESSAGES = ("out of memory", "not enough memory", "defaultcpuallocator", "failed to allocate")


class EngineOutOfMemoryError(RestoreError):
    """Even the smallest tile does not fit in the memory of the device."""


def memory_model_for(arch: str | None, scale: int, config: Mapping[str, Any], element_size: int) -> MemoryModel:
    """The :class:`MemoryModel` of ``arch`` at ``scale`` with hyperparameters ``config`` (the arch's spec says it).

    A network of no registered arch (``arch`` None: a user's module) is costed as a plain residual conv net
    of 64 features.
    """
    if arch is None:
        return plain_conv_net(scale, 64, element_size)
    return spec(arch).memory_model(scale, config, element_size)


def _meminfo_available_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def free_memory_bytes(device: torch.device) -> int:
    """Bytes a forward on ``device`` can still allocate.

    CUDA: the driver's free memory plus what torch's caching allocator holds but does not use. MPS: the
    recommended working set minus what the driver has allocated. CPU (and any fallback): MemAvailable from
    /proc/meminfo, or 4 GiB when it cannot be read (psutil is not a dependency).
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + cached)
    if device.type == "mps" and hasattr(torch.mps, "recommended_max_memory"):
        return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    available = _meminfo_available_bytes()
    return available if available is not None else 4 * 2**30


def auto_tile_size(
    height: int,
    width: int,
    memory: MemoryModel,
    free_bytes: int,
    *,
    batch: int = 1,
    reserved_bytes: int = 0,
    device_type: str = "cpu",
) -> int | None:
    """The tile side for an (H, W) LR input, or None when the whole input fits in one forward.

    ``memory.max_tile`` caps the side where larger tiles would only be slower. The budget is a fraction of ``free_bytes`` (0.7 on accelerators, 0.5 on the CPU, which other
    programs share) less ``reserved_bytes`` (what the caller will allocate besides the forward, such as
    the host output on the CPU). The tile is the largest multiple of 16 whose forward fits, and never
    less than 16: below that the retry on out-of-memory takes over.
    """
    fraction = CPU_BUDGET_FRACTION if device_type == "cpu" else CUDA_BUDGET_FRACTION
    budget = fraction * free_bytes - reserved_bytes
    within_limit = memory.max_tile is None or max(height, width) <= memory.max_tile
    if within_limit and memory.bytes_for(height, width, batch) <= budget:
        return None
    # Solve quadratic * T**4 + linear * T**2 + constant <= budget / (safety * batch) for T.
    per_item = budget / (SAFETY_FACTOR * batch) - memory.constant
    if per_item <= 0:
        return MIN_TILE
    if memory.quadratic > 0:
        pixels = (-memory.linear + math.sqrt(memory.linear**2 + 4 * memory.quadratic * per_item)) / (
            2 * memory.quadratic
        )
    else:
        pixels = per_item / memory.linear
    side = int(math.sqrt(max(pixels, 0.0))) // TILE_ALIGNMENT * TILE_ALIGNMENT
    if memory.max_tile is not None:
        side = min(side, memory.max_tile)
    return max(MIN_TILE, side)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure (CUDA, MPS or the CPU allocator) rather than a bug."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    if isinstance(error, (RuntimeError, MemoryError)):
        message = str(error).lower()
        return isinstance(error, MemoryError) or any(text in message for text in _OOM_MESSAGES)
    return False
