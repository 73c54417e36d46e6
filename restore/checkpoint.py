"""Strict loading of official (and official-layout) checkpoints into our networks.

The official RCAN/RNAN/SAN/RDN loaders use ``strict=False`` and silently skip or ignore keys, so a wrong
file can "load" and produce garbage. Here every key and shape must match, and the error says which do not.
"""
from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import torch
from torch import Tensor, nn

from restore.archs.spec import ArchSpec
from restore.errors import WeightsError

StateDict = Mapping[str, Tensor]
CheckpointSource = Union[str, os.PathLike, StateDict]

# Containers that training frameworks wrap a state dict in; params_ema first because BasicSR stores
# both and the EMA weights are the ones it evaluates with.
_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model")
_DATAPARALLEL_PREFIX = "module."
_LISTED_PER_KIND = 10
# Real checkpoints nest a state dict at most two wrappers deep (BasicSR: {"params_ema": ...}; Lightning:
# {"state_dict": ...}); a crafted one can nest forever or contain itself, so the unwrapping stops here.
_MAX_WRAPPER_DEPTH = 4



class CheckpointError(WeightsError):
    """A checkpoint cannot be read safely, or its keys/shapes do not fit the model.

    ``missing``, ``unexpected`` and ``mismatched`` hold the full lists of offending keys (the message
    lists only the first few of each).
    """

    def __init__(
        self,
        message: str,
        missing: list[str] | None = None,
        unexpected: list[str] | None = None,
        mismatched: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.missing = missing or []
        self.unexpected = unexpected or []
        self.mismatched = mismatched or []


def load_official(model: nn.Module, source: CheckpointSource) -> nn.Module:
    """Load a checkpoint into ``model`` with strict key and shape checking; return ``model``.

    ``source`` is a path or an in-memory state dict. Files:

    - ``.pt`` / ``.pth``: read with ``torch.load(weights_only=True)``; a pickle that references Python
      code (a custom class, ``os.system``, ...) is refused, because unpickling it could run that code.
    - ``.safetensors``: read with ``safetensors``.
    - Lua Torch7 ``.t7`` files (the RDN authors' format) are refused; they need conversion first.

    Wrappers ``{"params_ema" | "params" | "state_dict" | "model": state_dict}`` are unwrapped and a
    DataParallel ``module.`` prefix is stripped. Before anything is copied, keys and shapes are compared
    with ``model.state_dict()``: any missing, unexpected or shape-mismatched key raises
    :class:`CheckpointError` listing the offending keys, with a hint when the cause is recognisable
    (weights for another scale or another arch). Then ``load_state_dict(strict=True)`` copies them.

    Keys that the conformance manifests list under ``state_dict_keys_without_effect_on_output`` (e.g.
    SAN's ``RG.i.gamma``) exist in our models and are loaded like any other key, so they are required.

    Tensors are cast to the dtype of the model's own tensor (a float16 safetensors file loads into a
    float32 model).

    A crafted file is refused with a message, never a hang or garbage: wrappers nested deeper than
    ``_MAX_WRAPPER_DEPTH`` (or containing themselves), non-string keys, sparse, meta or complex tensors,
    and NaN or infinite weights (which would load and render black images).
    """
    read = read_state_dict(source)
    state_dict, label = read.tensors, read.label
    target = model.state_dict()
    _check_fits(state_dict, target, label, type(model).__name__)
    cast = {key: value.to(dtype=target[key].dtype) for key, value in state_dict.items()}
    model.load_state_dict(cast, strict=True)
    return model


@dataclass(frozen=True)
class ReadStateDict:
    """A checkpoint's state dict, unwrapped and checked, and how it was wrapped.

    ``label``: the path (or ``"state dict"``) for messages. ``wrappers``: the containers taken off, outermost
    first (``["params_ema"]``, ``["state_dict", "module."]``; ``"module."`` is the DataParallel prefix).
    """

    label: str
    tensors: dict[str, Tensor]
    wrappers: tuple[str, ...]


def read_state_dict(source: CheckpointSource) -> ReadStateDict:
    """Read ``source`` as :func:`load_official` does, without a model: the same refusals, the same unwrapping.

    Raises :class:`CheckpointError` for a file that cannot be read safely or holds no usable state dict.
    """
    label, checkpoint = _read(source)
    state_dict, wrappers = _unwrap(checkpoint, label)
    if _has_dataparallel_prefix(state_dict):
        state_dict, wrappers = _strip_dataparallel_prefix(state_dict), (*wrappers, _DATAPARALLEL_PREFIX)
    _check_tensors(state_dict, label)
    return ReadStateDict(label, state_dict, wrappers)


def _read(source: CheckpointSource) -> tuple[str, Mapping[str, object]]:
    if isinstance(source, Mapping):
        return "state dict", source
    path = Path(source)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    with path.open("rb") as handle:
        head = handle.read(64)
    if path.suffix.lower() == ".t7" or _looks_like_torch7(head):
        raise CheckpointError(
            f"{path} is a Lua Torch7 (.t7) file, the format the RDN authors distribute. It is not a PyTorch "
            "state dict and cannot be read here: convert it to a PyTorch state dict in the EDSR-PyTorch RDN "
            "layout (SFENet1, SFENet2, RDBs.d.convs.c.conv.0, RDBs.d.LFF, GFF.*, UPNet.*) first."
        )
    if path.suffix.lower() == ".safetensors" or _looks_like_safetensors(head):
        return str(path), _read_safetensors(path)
    return str(path), _read_torch_pickle(path)


def _looks_like_torch7(head: bytes) -> bool:
    # Torch7 binary serialisation: int32 type tag (4 = torch object), int32 object index, then the
    # length-prefixed version string "V 1".
    return head[:4] == b"\x04\x00\x00\x00" and head[12:15] == b"V 1"


def _looks_like_safetensors(head: bytes) -> bool:
    # safetensors: little-endian uint64 header length, then a JSON header.
    return len(head) > 8 and head[8:9] == b"{" and not head.startswith(b"PK")


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable safetensors file: {error}") from error


def _read_torch_pickle(path: Path) -> Mapping[str, object]:
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        blocked = re.search(r"GLOBAL ([\w.]+)", str(error))
        if blocked is None:
            raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: {_first_line(error)}") from error
        raise CheckpointError(
            f"refusing {path}: the pickle references Python code ({blocked.group(1)}), not just tensors. Loading "
            "it could run that code, so it will not be loaded (only weights-only checkpoints are). If you trust "
            "where it came from, open it with the code that wrote it and save just the weights, "
            "torch.save(model.state_dict(), 'weights.pt') or safetensors.torch.save_file(model.state_dict(), "
            "'weights.safetensors'), then load that file."
        ) from error
    except (RuntimeError, OSError, EOFError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: {_first_line(error)}") from error
    if not isinstance(loaded, Mapping):
        raise CheckpointError(f"{path} holds a {type(loaded).__name__}, not a state dict")
    return loaded


def _first_line(error: BaseException) -> str:
    """The error's first line that is not torch's advice to retry with the protection turned off."""
    lines = [line.strip() for line in str(error).splitlines()
             if line.strip() and "weights_only" not in line and "documentation" not in line.lower()]
    return lines[0] if lines else type(error).__name__


def _unwrap(checkpoint: Mapping[str, object], label: str) -> tuple[dict[str, Tensor], tuple[str, ...]]:
    """The state dict inside at most ``_MAX_WRAPPER_DEPTH`` wrapper dicts and the wrapper keys taken off,
    outermost first; CheckpointError otherwise."""
    current: Mapping[str, object] = checkpoint
    wrappers: list[str] = []
    for _ in range(_MAX_WRAPPER_DEPTH + 1):
        bad_keys = [key for key in current if not isinstance(key, str)]
        if bad_keys:
            shown = _listing([repr(key) for key in bad_keys])
            raise CheckpointError(f"{label} is not a state dict: its keys must be strings, found {shown}")
        if all(isinstance(value, Tensor) for value in current.values()):
            if not current:
                raise CheckpointError(f"{label} holds an empty state dict")
            return dict(current), tuple(wrappers)  # type: ignore[arg-type]
        wrapper = next((key for key in _WRAPPER_KEYS if isinstance(current.get(key), Mapping)), None)
        if wrapper is None:
            not_tensors = [key for key, value in current.items() if not isinstance(value, Tensor)]
            raise CheckpointError(
                f"{label} is not a state dict: entries {_listing(not_tensors)} are not tensors, and there is "
                f"no {' / '.join(repr(key) for key in _WRAPPER_KEYS)} entry holding one"
            )
        wrappers.append(wrapper)
        current = current[wrapper]  # type: ignore[assignment]
    raise CheckpointError(
        f"{label} is not a state dict: its {' / '.join(repr(key) for key in _WRAPPER_KEYS)} wrappers nest more "
        f"than {_MAX_WRAPPER_DEPTH} deep (or contain themselves); real checkpoints nest one or two"
    )


def _check_tensors(state_dict: Mapping[str, Tensor], label: str) -> None:
    """Refuse tensors a network cannot hold: sparse or other non-dense layouts, meta (no data), complex, non-finite."""
    unusable = {
        "not dense (sparse or another layout)": [key for key, value in state_dict.items()
                                                 if value.layout != torch.strided],
        "meta tensors (shapes without data)": [key for key, value in state_dict.items() if value.is_meta],
        "complex-valued": [key for key, value in state_dict.items() if value.is_complex()],
    }
    for what, keys in unusable.items():
        if keys:
            raise CheckpointError(f"{label} holds tensors that are {what}: {_listing(keys)}")
    non_finite = [key for key, value in state_dict.items()
                  if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if non_finite:
        raise CheckpointError(
            f"{label} holds NaN or infinite weights in {_listing(non_finite)}: the network would render blank "
            "images. The training that wrote it diverged; use an earlier checkpoint."
        )


def _has_dataparallel_prefix(state_dict: Mapping[str, Tensor]) -> bool:
    return all(key.startswith(_DATAPARALLEL_PREFIX) for key in state_dict)


def _strip_dataparallel_prefix(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    if _has_dataparallel_prefix(state_dict):
        return {key[len(_DATAPARALLEL_PREFIX):]: value for key, value in state_dict.items()}
    return state_dict


def _check_fits(state_dict: Mapping[str, Tensor], target: Mapping[str, Tensor], label: str, model_name: str) -> None:
    missing = [key for key in target if key not in state_dict]
    unexpected = [key for key in state_dict if key not in target]
    mismatched = [
        key for key in target if key in state_dict and tuple(state_dict[key].shape) != tuple(target[key].shape)
    ]
    if not (missing or unexpected or mismatched):
        return
    lines = [
        f"{label} does not fit the {model_name} model: {len(missing)} missing, {len(unexpected)} unexpected, "
        f"{len(mismatched)} shape-mismatched keys"
    ]
    if missing:
        lines.append(f"  missing (in the model, not in the checkpoint) [{len(missing)}]: {_listing(missing)}")
    if unexpected:
        lines.append(f"  unexpected (in the checkpoint, not in the model) [{len(unexpected)}]: {_listing(unexpected)}")
    if mismatched:
        shapes = [
            f"{key} checkpoint {tuple(state_dict[key].shape)} vs model {tuple(target[key].shape)}"
            for key in mismatched
        ]
        lines.append(f"  shape mismatch [{len(mismatched)}]: {_listing(shapes)}")
    hint = _hint(state_dict, target)
    if hint:
        lines.append(f"  hint: {hint}")
    raise CheckpointError("\n".join(lines), missing=missing, unexpected=unexpected, mismatched=mismatched)


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_LISTED_PER_KIND])
    more = len(items) - _LISTED_PER_KIND
    return f"{shown}, ... ({more} more)" if more > 0 else shown


def _hint(state_dict: Mapping[str, Tensor], target: Mapping[str, Tensor]) -> str | None:
    from restore.archs.layout import pixel_shuffle_scale

    checkpoint_arch, model_arch = _guess_arch(state_dict), _guess_arch(target)
    if checkpoint_arch and model_arch and checkpoint_arch != model_arch:
        return f"looks like another arch: {_title(checkpoint_arch)} weights for a {_title(model_arch)} model"
    shared_keys = sum(key in state_dict for key in target)
    if shared_keys < len(target) // 2:
        return f"looks like another arch: only {shared_keys} of the model's {len(target)} keys are in the checkpoint"
    prefixes = model_arch.upsampler_prefixes if isinstance(model_arch, ArchSpec) else ()
    checkpoint_scale, model_scale = pixel_shuffle_scale(state_dict, prefixes), pixel_shuffle_scale(target, prefixes)
    if checkpoint_scale and model_scale and checkpoint_scale != model_scale:
        keys = ", ".join(f"{prefix}*" for prefix in prefixes)
        return (
            f"looks like scale x{checkpoint_scale} weights for a x{model_scale} model: "
            f"{keys} keys or shapes differ; "
            f"build the model with scale={checkpoint_scale}"
        )
    return (
        "same arch and scale but a different configuration (depth or width): build the model with the "
        "hyperparameters the checkpoint was trained with"
    )


def _title(layout: ArchSpec | str) -> str:
    return layout.title if isinstance(layout, ArchSpec) else layout


def _guess_arch(state_dict: Mapping[str, Tensor]) -> ArchSpec | str | None:
    """The registered arch whose key fingerprint ``state_dict`` carries, or the name of another known layout."""
    from restore.archs import specs
    from restore.archs.sanet import TRANSFORM_FINGERPRINT

    for arch in specs():
        if arch.matches_fingerprint(state_dict):
            return arch
    if any(TRANSFORM_FINGERPRINT.search(key) for key in state_dict):
        return "SANet transformer"
    return None
