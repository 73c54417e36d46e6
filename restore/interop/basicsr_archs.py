"""Register restore's architectures in BasicSR's ARCH_REGISTRY, so a BasicSR option file can build them.

Each arch's spec names it (``ArchSpec.basicsr_name``: ``RestoreRCAN``, ``RestoreRDN``, ...), prefixed so it
never clashes with BasicSR's own ``RCAN``. Option keys are our builder's: ``scale`` plus the official hyperparameter
names, e.g.::

    network_g:
      type: RestoreRCAN
      scale: 4
      n_resgroups: 10
      n_resblocks: 20

Nothing here runs on ``import restore``: BasicSR (and its heavy imports) load only when
``register_basicsr_archs()`` is called.
"""
from __future__ import annotations

from collections.abc import Callable

from torch import nn


def basicsr_names() -> dict[str, str]:
    """restore arch name -> the name it is registered under in BasicSR, for every bridged arch."""
    from restore.archs import specs

    return {arch.name: arch.basicsr_name for arch in specs() if arch.basicsr_name}


def _builder(arch: str, registered_name: str) -> Callable[..., nn.Module]:
    from restore.archs import build_model

    def build(scale: int, **hyperparameters) -> nn.Module:
        return build_model(arch, scale, **hyperparameters)

    build.__name__ = registered_name
    build.__qualname__ = registered_name
    build.__doc__ = f"restore's {arch} for BasicSR: build_model({arch!r}, scale, **hyperparameters)."
    return build


def register_basicsr_archs():
    """Register every bridged arch (idempotent) and return BasicSR's ARCH_REGISTRY."""
    from restore.interop.basicsr_compat import import_basicsr

    import_basicsr()
    from basicsr.utils.registry import ARCH_REGISTRY

    for arch, name in basicsr_names().items():
        if name not in ARCH_REGISTRY:
            ARCH_REGISTRY.register(_builder(arch, name))
    return ARCH_REGISTRY
