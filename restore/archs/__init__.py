"""Network architectures and the builder ``build_model(arch, scale, **hyperparameters)``.

Each arch module registers a builder with ``@register_arch(name)``; the name -> module map below lets
``build_model`` import only the arch it needs.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

from torch import nn

_ARCH_MODULES: dict[str, str] = {
    "rcan": "restore.archs.rcan",
    "rdn": "restore.archs.rdn",
    "rnan": "restore.archs.rnan",
    "san": "restore.archs.san",
    "bicubic": "restore.archs.bicubic",
}
_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_arch(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _BUILDERS[name] = builder
        return builder

    return decorator


def list_archs() -> list[str]:
    return sorted(_ARCH_MODULES)


def build_model(arch: str, scale: int, **hyperparameters) -> nn.Module:
    """Build ``arch`` at ``scale`` with the official full configuration, overridden by keyword.

    The keywords are the official hyperparameter names (RCAN/SAN: n_resgroups, n_resblocks, n_feats,
    reduction; RNAN: n_resgroups, n_feats; RDN: G0, D, C, G). Unknown names raise TypeError.
    """
    key = arch.lower()
    if key not in _ARCH_MODULES:
        raise KeyError(f"unknown arch {arch!r}; known: {', '.join(list_archs())}")
    if key not in _BUILDERS:
        importlib.import_module(_ARCH_MODULES[key])
    return _BUILDERS[key](scale=scale, **hyperparameters)
