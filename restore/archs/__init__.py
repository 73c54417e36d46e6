"""Network architectures: each module ``restore/archs/<arch>.py`` registers one :class:`ArchSpec`.

``spec(name)`` and ``specs()`` are how the rest of restore learns about an arch (its builder, paper
configuration, layout detection, upsampler keys, memory model, BasicSR name, published scores); nothing
outside this package tests an arch's name. The modules are discovered, not listed: adding an arch is adding
its file.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from torch import nn

from restore.archs.layout import StateDict
from restore.archs.spec import ArchSpec, Detected

__all__ = [
    "ArchSpec", "Detected", "build_model", "detect", "list_archs", "published_archs", "register", "spec", "specs",
    "unregister",
]

_SPECS: dict[str, ArchSpec] = {}
_discovered = False


def register(arch: ArchSpec) -> ArchSpec:
    """Make ``arch`` known to restore (an arch module calls this once, at import); returns it."""
    if arch.name in _SPECS and _SPECS[arch.name] is not arch:
        raise ValueError(f"an arch named {arch.name!r} is already registered")
    _SPECS[arch.name] = arch
    return arch


def unregister(name: str) -> None:
    """Forget the arch ``name`` (for archs registered at run time, e.g. in tests)."""
    _SPECS.pop(name.lower(), None)


def _discover() -> None:
    """Import every module of this package once; the arch modules register their specs as they load."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def specs() -> list[ArchSpec]:
    """Every registered arch, by name."""
    _discover()
    return [_SPECS[name] for name in sorted(_SPECS)]


def spec(name: str) -> ArchSpec:
    """The spec of the arch ``name`` (any case); KeyError naming the known archs otherwise."""
    _discover()
    key = name.lower()
    if key not in _SPECS:
        raise KeyError(f"unknown arch {name!r}; known: {', '.join(list_archs())}")
    return _SPECS[key]


def list_archs() -> list[str]:
    return [arch.name for arch in specs()]


def build_model(arch: str, scale: int, **hyperparameters) -> nn.Module:
    """Build ``arch`` at ``scale`` with the paper's full configuration, overridden by keyword.

    The keywords are the official hyperparameter names (``spec(arch).defaults``; RCAN/SAN: n_resgroups,
    n_resblocks, n_feats, reduction; RNAN: n_resgroups, n_feats; RDN: G0, D, C, G). Unknown names raise TypeError.
    """
    return spec(arch).build(scale, **hyperparameters)


def published_archs() -> dict[str, str]:
    """The ``method`` of published scores (``restore/data/published.json``) -> the arch it measured."""
    return {arch.published_key: arch.name for arch in specs() if arch.published_key}


def detect(state_dict: Mapping[str, object] | StateDict) -> Detected | None:
    """Which registered arch's official layout ``state_dict`` is, at which scale and configuration; or None."""
    for arch in specs():
        found = arch.detect(state_dict)  # type: ignore[arg-type]
        if found is not None:
            return found
    return None
