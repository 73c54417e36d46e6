"""The tile option, one rule for every front end: ``auto``, none (whole images) or a side of at least 16 pixels.

Light on purpose (no torch): the CLI's argument parser and the app read it before any network loads.
"""
from __future__ import annotations

from restore.errors import SettingsError

__all__ = ["MIN_TILE", "parse_tile"]

# Below this an LR tile is mostly overlap, and the out-of-memory retry stops halving there: smaller tiles only
# cost time. The automatic choice never goes lower either.
MIN_TILE = 16

_WHOLE_IMAGE = ("none", "off", "0")


def parse_tile(value: str | int | None) -> str | int | None:
    """A user's tile choice as ``Upscaler``'s ``tile``: ``"auto"``, None (whole image) or a side in LR pixels.

    Text ``"auto"`` or empty -> ``"auto"``; ``"none"``, ``"off"``, ``"0"``, 0 or None -> None; an integer of at
    least :data:`MIN_TILE` -> itself. Anything else raises :class:`restore.errors.SettingsError`.
    """
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("auto", ""):
        return "auto"
    if text in _WHOLE_IMAGE:
        return None
    try:
        side = int(text)
    except ValueError:
        raise SettingsError(f"tile must be 'auto', 'none' or a size in pixels, got {value!r}") from None
    if side < MIN_TILE:
        raise SettingsError(f"a tile of {side} pixels is too small; use at least {MIN_TILE} (or 'auto')")
    return side
