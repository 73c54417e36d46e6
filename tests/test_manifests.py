"""Every arch at its official full configuration has exactly the official state_dict: keys, shapes, dtypes, count."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from restore import build_model

CASES = [(arch, scale) for arch in ("rcan", "rdn", "rnan", "san") for scale in (2, 3, 4)]


def _build_without_memory(arch: str, scale: int) -> nn.Module:
    # On the meta device the full networks (up to 22 M parameters) cost no memory and no init time.
    with torch.device("meta"):
        return build_model(arch, scale)


@pytest.mark.parametrize(("arch", "scale"), CASES)
def test_state_dict_matches_manifest(conformance_dir: Path, arch: str, scale: int) -> None:
    module = f"restore.archs.{arch}"
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not written yet")
    manifest = json.loads((conformance_dir / "manifests" / f"{arch}_x{scale}.json").read_text())
    state_dict = _build_without_memory(arch, scale).state_dict()

    ours = {key: (list(value.shape), str(value.dtype).removeprefix("torch.")) for key, value in state_dict.items()}
    official = {key: (shape, dtype) for key, shape, dtype in manifest["state_dict"]}
    assert sorted(set(ours) - set(official)) == [], "keys the official model lacks"
    assert sorted(set(official) - set(ours)) == [], "official keys we lack"
    wrong = {key: (ours[key], official[key]) for key in official if ours[key] != official[key]}
    assert wrong == {}, "(ours, official) shape/dtype"
    assert len(state_dict) == manifest["n_state_dict_entries"]
    assert sum(value.numel() for value in state_dict.values()) == manifest["n_params"]
