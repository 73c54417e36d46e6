"""Importing basicsr 1.4.2 on current torchvision.

basicsr 1.4.2 imports ``torchvision.transforms.functional_tensor``, a module torchvision removed;
its one use (``rgb_to_grayscale``) also lives in ``torchvision.transforms.functional``, so that
module stands in for it. The alias is installed only when basicsr is actually requested.
"""
from __future__ import annotations

import sys
from types import ModuleType


def import_basicsr() -> ModuleType:
    """Import and return the ``basicsr`` package, aliasing the removed torchvision module first."""
    import torchvision.transforms.functional as functional

    sys.modules.setdefault("torchvision.transforms.functional_tensor", functional)
    import basicsr

    return basicsr
