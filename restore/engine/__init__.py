"""The upscaling engine: tiled, mixed-precision inference over arrays of any common layout and depth.

Rooms: engine builds on archs, zoo, ensemble and metrics, and is used by the CLI and the app. The names
below load lazily, so the front ends can read the engine's option rules (:mod:`restore.engine.tile_option`)
without importing torch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from restore._lazy import lazy_exports

_EXPORTS = {"Upscaler": "restore.engine.upscaler", "tiled_forward": "restore.engine.tiling"}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from restore.engine.tiling import tiled_forward
    from restore.engine.upscaler import Upscaler
