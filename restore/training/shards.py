"""Float16 weights split into safetensors shards of bounded size, and put back together.

A lent GPU machine returns files of at most 16 MiB; the paper's RCAN is ~31 MB in float16. Shards hold whole
tensors (greedy, in state-dict order); the card lists them with their sha256, and ``load_shards`` checks every
digest and that no tensor appears twice before handing back one state dict.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from restore.errors import WeightsError
from restore.hashing import sha256_file

# safetensors' JSON header names each tensor with its dtype, shape and offsets (under 128 bytes beyond the name)
HEADER_FIXED, HEADER_PER_TENSOR = 1024, 128


def shard_names(stem: str, count: int) -> list[str]:
    if count == 1:
        return [f"{stem}.safetensors"]
    return [f"{stem}-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]


def split_state(state: dict[str, torch.Tensor], max_bytes: int) -> list[dict[str, torch.Tensor]]:
    """Float16 copies of ``state`` grouped so that each group's tensors take at most ``max_bytes``."""
    groups: list[dict[str, torch.Tensor]] = [{}]
    size = HEADER_FIXED
    for key, value in state.items():
        tensor = value.detach().to(value.device if value.is_meta else "cpu",
                                   torch.float16 if value.is_floating_point() else value.dtype).contiguous()
        cost = tensor.numel() * tensor.element_size() + len(key.encode()) + HEADER_PER_TENSOR
        if HEADER_FIXED + cost > max_bytes:
            raise WeightsError(f"tensor {key} ({tensor.numel() * tensor.element_size()} bytes) does not fit a "
                               f"file of {max_bytes} bytes")
        if size + cost > max_bytes and groups[-1]:
            groups.append({})
            size = HEADER_FIXED
        groups[-1][key] = tensor
        size += cost
    return groups


def count_shards(shapes: dict[str, torch.Size], max_bytes: int) -> int:
    """How many shards ``split_state`` makes of float16 tensors of these shapes (no data needed)."""
    return len(split_state({k: torch.empty(s, dtype=torch.float16, device="meta") for k, s in shapes.items()},
                           max_bytes)) if shapes else 0


def save_shards(state: dict[str, torch.Tensor], folder: Path, stem: str, max_bytes: int) -> list[dict]:
    """Write ``state`` as float16 shards ``<stem>[-i-of-n].safetensors``; returns [{file, sha256, bytes}].

    Each file is written beside its final name and renamed, so a run cut mid-write leaves the previous save.
    """
    from safetensors.torch import save_file

    groups = split_state(state, max_bytes)
    written = []
    for name, group in zip(shard_names(stem, len(groups)), groups):
        path = folder / name
        partial = folder / f"{name}.partial"
        save_file(group, str(partial))
        os.replace(partial, path)
        written.append({"file": name, "sha256": sha256_file(path), "bytes": path.stat().st_size})
    return written


def load_shards(card_path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict a card's ``shards`` (or single ``weights`` file) hold, every sha256 checked."""
    from safetensors.torch import load_file

    card_path = Path(card_path)
    card = json.loads(card_path.read_text())
    shards = card.get("shards") or [{"file": card["weights"], "sha256": card.get("sha256")}]
    state: dict[str, torch.Tensor] = {}
    for shard in shards:
        path = card_path.parent / shard["file"]
        if not path.is_file():
            raise WeightsError(f"{card_path} lists {shard['file']}, which is not beside it")
        if shard.get("sha256") and sha256_file(path) != shard["sha256"]:
            raise WeightsError(f"{path} does not match the sha256 its card {card_path.name} records")
        part = load_file(str(path))
        twice = sorted(set(part) & set(state))
        if twice:
            raise WeightsError(f"{path} repeats tensors of an earlier shard: {', '.join(twice[:5])}")
        state.update(part)
    return state
