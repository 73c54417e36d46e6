"""The upscaling engine: tiled, mixed-precision inference over arrays of any common layout and depth.

Rooms: engine builds on archs, zoo, ensemble and metrics, and is used by the CLI and the app.
"""
from restore.engine.tiling import tiled_forward
from restore.engine.upscaler import Upscaler

__all__ = ["Upscaler", "tiled_forward"]
