"""SANet arbitrary style transfer: building the network, the style-model zoo, ``stylize`` and training."""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_sanet": "restore.style.build",
    "load_official_sanet": "restore.style.build",
    "load_style_model": "restore.style.models",
    "export_style_model": "restore.style.models",
    "stylize": "restore.style.stylize",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'restore.style' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
