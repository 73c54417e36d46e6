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
from restore.training.card import render_card

DEFAULT_STYLE_MODEL = REPO_ROOT / "models" / "sanet-vgg16.safetensors"
HOW_TO_GET = (
    "train one with `restore train-style options/sanet-vgg16.yml` and export it with "
    "restore.style.export_style_model, or pass a model file (--model PATH / model=...)"
)
_PREFIXES = ("transformer.", "decoder.")


def card_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def write_style_card(model_path: Path, card: dict) -> None:
    """The JSON card and its readable twin (``<stem>.md``) beside the model file, each replaced atomically (a GPU
    campaign cut while saving must leave a whole card)."""
    for path, text in ((card_path(model_path), json.dumps(card, indent=2) + "\n"),
                       (model_path.with_suffix(".md"), render_style_card(card))):
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text)
        partial.replace(path)


def render_style_card(card: dict) -> str:
    """Markdown for people: what the file is, how it was trained, what it measured on the held-out pairs."""
    options = card.get("options", {})
    data, train = options.get("data", {}), options.get("train", {})
    intro = [card.get("task", "")] + ([f"**Status:** {card['status']}"] if card.get("status") else [])
    rows = [
        ("weights", f"`{card['file']}` ({card['dtype']}, {card['bytes']:,} bytes, sha256 `{card['sha256']}`)"),
        ("contents", card.get("contents", "")),
        ("encoder", card.get("encoder", "")),
        ("recipe", f"`{card.get('recipe')}`"),
    ]
    if options:
        rows += [
            ("crop, batch, lr", f"{data.get('crop')}, {data.get('batch_size')}, {train.get('lr')}"),
            ("loss weights", ", ".join(f"{k} {v}" for k, v in train.get("weights", {}).items())
             + (" (loss taps normalised by channel means)" if train.get("normalised_loss_features") else "")),
        ]
    if card.get("weights_exported"):
        rows.append(("weights exported", card["weights_exported"]))
    if "iterations" in card:
        rows.append(("this run", f"{card['iterations']:,} iterations, {card.get('core_hours')} CPU core-hours on "
                                 f"{card.get('hardware')}"))
    if card.get("started_from"):
        rows.append(("whole lineage", f"{card['total_iterations']:,} iterations, {card['total_core_hours']} core-hours "
                                      f"(started from sha256 `{card['started_from'].get('sha256', '?')[:12]}…`)"))
    if card.get("held_out"):
        held_out = card["held_out"]
        rows.append(("held out", f"{len(held_out['content'])} contents, {len(held_out['style'])} styles "
                                 "(listed in the JSON card)"))
    measured = [("this model", card.get("held_out_losses"))]
    if card.get("replaces"):
        measured.append((f"the model it replaced ({card['replaces'].get('iterations')} iterations of its run)",
                         card["replaces"].get("held_out_losses")))
    measured = [(who, losses) for who, losses in measured if losses]
    sections = []
    if measured:
        first = measured[0][1]
        sections.append(
            [f"Held-out pairs ({first['pairs']} at {first['size']} px; paper losses, lower is better; "
             "reconstruction = alpha 0, higher is better):", "",
             "| model | content | style | style vs another pair's painting | reconstruction | "
             "palette distance to the painting (another pair's; the content photo's own) |",
             "|---|---|---|---|---|---|"]
            + [f"| {who} | {m['content_loss']:.3f} | {m['style_loss']:.2f} | {m['style_loss_mismatched']:.2f} | "
               f"{m['reconstruction_psnr']:.2f} dB | {_palette_cell(m)} |" for who, m in measured])
    return render_card(card.get("name", card["file"]), intro, rows, sections)


def _palette_cell(measured: dict) -> str:
    # Cards written before the palette distance was measured lack it.
    if "palette_distance" not in measured:
        return "not measured"
    return (f"{measured['palette_distance']:.2f} ({measured['palette_distance_mismatched']:.2f}; "
            f"{measured['palette_distance_content']:.2f}; closer in {measured['palette_closer_pairs']} of "
            f"{measured['pairs']})")


def read_style_parts(path: str | os.PathLike | None = None) -> dict[str, dict[str, torch.Tensor]]:
    """The ``transformer`` and ``decoder`` state dicts of a style model file (default: the zoo's ``sanet-vgg16``).

    The file's sha256 must match its card when a card sits beside it; anything but ``transformer.*`` and
    ``decoder.*`` is refused. Needs no encoder: how a lent GPU machine, which has only the packed VGG-16
    layers, starts from the committed model. Raises WeightsError saying how to get a model when it is missing.
    """
    model_path = Path(path) if path is not None else DEFAULT_STYLE_MODEL
    if not model_path.is_file():
        raise WeightsError(f"no style model at {model_path}; {HOW_TO_GET}")
    card = card_path(model_path)
    if card.is_file():
        expected = json.loads(card.read_text()).get("sha256")
        if expected and sha256_file(model_path) != expected:
            raise WeightsError(f"{model_path} does not match the sha256 pinned in {card.name}")
    state = load_file(str(model_path))
    stray = sorted(key for key in state if not key.startswith(_PREFIXES))
    if stray:
        raise WeightsError(
            f"{model_path}: unexpected tensors {stray[:5]} (a style model holds transformer.* and decoder.*)"
        )
    return {prefix.rstrip("."): {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
            for prefix in _PREFIXES}


def load_style_model(path: str | os.PathLike | None = None) -> SANet:
    """Build the VGG-16 SANet and load a style model file strictly (default: the zoo's ``sanet-vgg16``).

    The file's sha256 must match its card when a card sits beside it. Raises WeightsError saying how to
    get the weights when the file (or the VGG-16 backbone) is missing.
    """
    from restore.style.build import build_sanet

    parts = read_style_parts(path)
    network = build_sanet("vgg16")
    for part, state in parts.items():
        load_official(getattr(network, part), state)
    return network.eval()


def save_style_tensors(weights: dict[str, torch.Tensor], output: str | os.PathLike) -> Path:
    """Write ``transformer.*`` and ``decoder.*`` weights as a float16 style model file (atomically, no card)."""
    stray = sorted(key for key in weights if not key.startswith(_PREFIXES))
    if stray:
        raise ValueError(f"not style-model weights: {stray[:5]}")
    tensors = {key: value.detach().to("cpu", torch.float16).contiguous() for key, value in weights.items()}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".safetensors.partial")
    save_file(tensors, str(partial), metadata={"format": "restore-sanet-vgg16"})
    partial.replace(output)
    return output


def export_style_model(checkpoint: str | os.PathLike, output: str | os.PathLike, card: dict) -> Path:
    """Write a training checkpoint's transformer + decoder (their moving average, if kept) as float16
    safetensors, and its card.

    ``card`` fields are kept; ``file``, ``sha256``, ``bytes`` and ``dtype`` are filled in.
    """
    from restore.training.core import read_checkpoint_file

    state = read_checkpoint_file(checkpoint)
    weights = state.get("ema") or state["model"]  # a run that keeps a weight average exports the average
    return write_style_model(weights, output, card)


def write_style_model(weights: dict[str, torch.Tensor], output: str | os.PathLike, card: dict) -> Path:
    """``transformer.*`` and ``decoder.*`` weights as a float16 style model file at ``output``, and its card
    (``card`` with ``file``, ``sha256``, ``bytes`` and ``dtype`` filled in)."""
    output = save_style_tensors(weights, output)
    size, digest = output.stat().st_size, sha256_file(output)
    record = {**card, "file": output.name, "dtype": "float16", "bytes": size, "sha256": digest}
    write_style_card(output, record)
    return output
