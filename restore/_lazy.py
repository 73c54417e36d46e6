"""Lazy re-exports for package ``__init__`` modules: names resolve to their defining module on first use,
so importing a package does not import torch, gradio or basicsr until something needs them."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose public names live in the modules ``exports`` maps to."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # cache: the next access is a plain attribute lookup
        return value

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
