"""Style transfer: SANet (building the network, the style-model zoo, ``stylize``, training) and the pixel
optimisation ``optimize_stylize``."""
from __future__ import annotations

from restore._lazy import lazy_exports

_EXPORTS = {
    "build_sanet": "restore.style.build",
    "load_official_sanet": "restore.style.build",
    "load_style_model": "restore.style.models",
    "export_style_model": "restore.style.models",
    "stylize": "restore.style.stylize",
    "optimize_stylize": "restore.style.optimize",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
