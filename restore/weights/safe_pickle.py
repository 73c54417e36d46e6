"""A restricted unpickler for checkpoints that are nested dicts of numpy arrays.

``pickle.load`` runs any callable a pickle names; third-party checkpoints therefore get an
allow-list of exactly the globals that numpy array reconstruction needs, and nothing else.
"""
from __future__ import annotations

import collections
import io
import pickle
from typing import Any

import numpy as np

from restore.errors import WeightsError

# numpy moved its internals from numpy.core to numpy._core in 2.0; pickles written by either name
# the function by the module path of the numpy that wrote them. Take the object from an array's own
# reduce tuple so neither (deprecated) module has to be imported by name.
_RECONSTRUCT = np.zeros(1).__reduce__()[0]

ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise WeightsError(
                f"refusing to unpickle: the checkpoint references {module}.{name}, "
                "which is not on the allow-list of numpy array globals"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise WeightsError("refusing to unpickle: the checkpoint uses persistent ids")


def load_array_tree(data: bytes, source: str = "checkpoint") -> dict[str, Any]:
    """Unpickle ``data`` as a nested dict whose leaves are numeric numpy arrays.

    Raises WeightsError when the pickle names a global off the allow-list, is malformed, or holds
    anything but dicts of numeric arrays (an object-dtype array could smuggle arbitrary objects).
    """
    try:
        tree = _AllowListUnpickler(io.BytesIO(data)).load()
    except WeightsError as exc:
        raise WeightsError(f"{source}: {exc}") from None
    except Exception as exc:  # a malformed pickle can fail in many ways; all mean "not a checkpoint"
        raise WeightsError(f"{source}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    _check_tree(tree, source, path="")
    return tree


def _check_tree(node: Any, source: str, path: str) -> None:
    if isinstance(node, dict):
        for key, child in node.items():
            if not isinstance(key, str):
                raise WeightsError(f"{source}: non-string key {key!r} under {path or '/'}")
            _check_tree(child, source, f"{path}/{key}")
        return
    if not isinstance(node, np.ndarray) or node.dtype.kind not in "fiub":
        raise WeightsError(f"{source}: {path} is {type(node).__name__}, expected a numeric array")
