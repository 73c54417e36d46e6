"""The style-model zoo: ``models/sanet-vgg16.safetensors`` (transformer + decoder, float16) and its card.

A style model file holds only what training changes (``transformer.*`` and ``decoder.*``); the frozen
VGG-16 encoder comes from the converted ImageNet backbone. The card (``<stem>.json``) pins the file's
sha256 and records how it was trained (recipe, iterations, wall time, hardware, held-out lists, losses).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from restore.archs.sanet import SANet
from restore.checkpoint import load_official
from restore.errors import WeightsError
from restore.hashing import sha256_file
from restore.paths import REPO_ROOT

DEFAULT_STYLE_MODEL = REPO_ROOT / "models" / "sanet-vgg16.safetensors"
HOW_TO_GET = (
    "train one with `restore train-style options/sanet-vgg16.yml` and export it with "
    "restore.style.export_style_model, or pass a model file (--model PATH / model=...)"
)
_PREFIXES = ("transformer.", "decoder.")


def card_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")



def load_style_model(path: str | os.PathLike | None = None) -> SANet:
    """Build the VGG-16 SANet and load a style model file strictly (default: the zoo's ``sanet-vgg16``).

    The file's sha256 must match its card when a card sits beside it. Raises WeightsError saying how to
    get the weights when the file (or the VGG-16 backbone) is missing.
    """
    from restore.style.build import build_sanet

    model_path = Path(path) if path is not None else DEFAULT_STYLE_MODEL
    if not model_path.is_file():
        raise WeightsError(f"no style model at {model_path}; {HOW_TO_GET}")
    card = card_path(model_path)
    if card.is_file():
        expected = json.loads(card.read_text()).get("sha256")
        if expected and sha256_file(model_path) != expected:
            raise WeightsError(f"{model_path} does not match the sha256 pinned in {card.name}")
    state = load_file(str(model_path))
    network = build_sanet("vgg16")
    for prefix in _PREFIXES:
        part = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
        load_official(getattr(network, prefix.rstrip(".")), part)
    stray = sorted(key for key in state if not key.startswith(_PREFIXES))
    if stray:
        raise WeightsError(
            f"{model_path}: unexpected tensors {stray[:5]} (a style model holds transformer.* and decoder.*)"
        )
    return network.eval()


def export_style_model(checkpoint: str | os.PathLike, output: str | os.PathLike, card: dict) -> Path:
    """Write a training checkpoint's transformer + decoder as float16 safetensors, and its card.

    ``card`` fields are kept; ``file``, ``sha256``, ``bytes`` and ``dtype`` are filled in.
    """
    state = torch.load(Path(checkpoint), map_location="cpu", weights_only=True)
    tensors = {
        f"{part}.{key}": value.to(torch.float16).contiguous()
        for part in ("transformer", "decoder")
        for key, value in state[part].items()
    }
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".safetensors.partial")
    save_file(tensors, str(partial), metadata={"format": "restore-sanet-vgg16"})
    partial.replace(output)
    size, digest = output.stat().st_size, sha256_file(output)
    record = {**card, "file": output.name, "dtype": "float16", "bytes": size, "sha256": digest}
    card_path(output).write_text(json.dumps(record, indent=2) + "\n")
    return output
