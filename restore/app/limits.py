"""The work bound of one upscale request: output pixels times network passes.

The pixel limit bounds what is decoded; this bounds what is computed. A small upload (a 16 MP PNG of a
flat colour compresses to kilobytes) at x4 with the self-ensemble asks for 2 billion output pixels of
network work, which would hold a single-job queue for the better part of an hour.
"""
from __future__ import annotations

from restore.errors import DataError

__all__ = ["check_work_limit", "upscale_work"]


def upscale_work(width: int, height: int, scale: int, self_ensemble: bool) -> int:
    """Output pixels times forward passes of the network (8 with the self-ensemble)."""
    from restore.ensemble import ENSEMBLE_PASSES

    return width * height * scale * scale * (ENSEMBLE_PASSES if self_ensemble else 1)


def check_work_limit(name: str, width: int, height: int, scale: int, self_ensemble: bool, max_work: int) -> None:
    """Refuse an upscale job above ``max_work`` with a message that says what to change."""
    from restore.app.handlers import megapixels

    work = upscale_work(width, height, scale, self_ensemble)
    if work <= max_work:
        return
    ensemble = " with the self-ensemble (8 passes)" if self_ensemble else ""
    raise DataError(
        f"{name} ({width}x{height}) at x{scale}{ensemble} is {megapixels(work)} of network work; this app allows "
        f"{megapixels(max_work)} per job (output pixels x passes). Turn off the self-ensemble, choose a smaller "
        "scale, or crop the image; a deployment raises the limit with restore app --max-work N "
        "(RESTORE_APP_MAX_WORK)."
    )
