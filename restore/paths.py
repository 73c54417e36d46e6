"""Where data lives: the data root (benchmark and training sets) and the shared reference folder.

Resolution order for the data root: an explicit argument, ``$RESTORE_DATA_ROOT``, then
``../shared/datasets`` beside the repository checkout (this workspace's layout).
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_root() -> Path:
    """The ``shared`` folder (conformance data, datasets, reference outputs)."""
    env = os.environ.get("RESTORE_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The folder holding Set5/, Set14/, BSD100/, Urban100/, train/, style/."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("RESTORE_DATA_ROOT")
    if env:
        return Path(env)
    return shared_root() / "datasets"


def cache_dir() -> Path:
    """Per-user cache for converted weights (LPIPS/VGG backbones) and decoded training patches."""
    env = os.environ.get("RESTORE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "restore"
