"""The model zoo: named models, their weights and cards.

Two kinds of entries:

* every registered architecture at its paper configuration (``restore.archs.specs()``: RCAN, RDN, RNAN,
  SAN, whose weights are the authors' checkpoints that a user supplies, ``weights=PATH``; and the
  ``bicubic`` baseline, which needs none);
* models we trained, each described by a card ``models/<name>_x<scale>.json`` that pins its fp16
  safetensors file by sha256 and records the recipe and the measured metrics.

Cards are data; adding a model is adding a card and its weights, no code.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from restore.errors import WeightsError
from restore.hashing import sha256_file
from restore.paths import REPO_ROOT

def models_dir() -> Path:
    env = os.environ.get("RESTORE_MODELS_DIR")
    return Path(env) if env else REPO_ROOT / "models"


@dataclass(frozen=True)
class ZooEntry:
    name: str
    arch: str
    scale: int
    config: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    card: Path | None = None
    weights: Path | None = None
    sha256: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_weights(self) -> bool:
        """False for a fixed baseline (bicubic), which has no weights to load."""
        from restore.archs import spec

        return spec(self.arch).learned

    @property
    def has_weights(self) -> bool:
        return not self.needs_weights or self.weights is not None


def _read_card(path: Path) -> ZooEntry:
    try:
        card = json.loads(path.read_text())
        weights = card.get("weights")
        return ZooEntry(
            name=card["name"],
            arch=card["arch"],
            scale=int(card["scale"]),
            config=dict(card.get("config", {})),
            description=card.get("summary", ""),
            card=path,
            weights=(path.parent / weights) if weights else None,
            sha256=card.get("sha256"),
            metrics=card.get("metrics", {}),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise WeightsError(f"model card {path} is malformed: {exc}") from exc


@lru_cache(maxsize=8)
def _entries(archs: tuple[str, ...], cards: tuple[tuple[str, int], ...]) -> tuple[ZooEntry, ...]:
    from restore.archs import spec

    entries = [ZooEntry(name=arch, arch=arch, scale=scale, description=spec(arch).summary)
               for arch in archs for scale in spec(arch).scales]
    return tuple(entries + [_read_card(Path(path)) for path, _ in cards])


def list_models() -> list[ZooEntry]:
    """Every registered (name, scale): the architectures at their paper configurations (learned ones first,
    then the baselines), then our trained models."""
    from restore.archs import specs

    archs = tuple(arch.name for arch in sorted(specs(), key=lambda arch: (not arch.learned, arch.name)))
    root = models_dir()
    cards = sorted(root.glob("*_x[0-9].json")) if root.is_dir() else []
    # Keyed on the archs, the card files and their mtimes: a new arch or a new or edited card is seen without
    # a restart.
    return list(_entries(archs, tuple((str(p), p.stat().st_mtime_ns) for p in cards)))


def find_entry(name: str, scale: int) -> ZooEntry:
    matches = [e for e in list_models() if e.name == name.lower() and e.scale == scale]
    if not matches:
        names = sorted({e.name for e in list_models()})
        scales = sorted({e.scale for e in list_models() if e.name == name.lower()})
        if scales:
            raise WeightsError(f"model {name!r} has no x{scale} entry; available scales: {scales}")
        raise WeightsError(f"unknown model {name!r}; known models: {', '.join(names)}")
    return matches[0]


def default_model(scale: int) -> str:
    """The best of our trained models at ``scale`` by Set5 PSNR, else ``bicubic``."""
    trained = [e for e in list_models() if e.card is not None and e.scale == scale and e.weights is not None]
    scored = [(e.metrics.get("Set5", {}).get("psnr", 0.0), e.name) for e in trained if e.weights.exists()]
    return max(scored)[1] if scored else "bicubic"



def build_entry(entry: ZooEntry):
    from restore.archs import build_model

    return build_model(entry.arch, entry.scale, **entry.config)


def load_model(name: str, scale: int, weights: str | os.PathLike | None = None, *, device: str = "cpu"):
    """Build a zoo model with its weights, in eval mode, float32, on ``device``.

    ``weights``: a checkpoint path (the authors' .pt or any strict-compatible .pt/.safetensors).
    When omitted, the weights named by the model's card are used (sha256 checked). The official
    architectures have no bundled weights: pass the authors' checkpoint.
    """
    from restore.checkpoint import load_official

    entry = find_entry(name, scale)
    model = build_entry(entry)
    if not entry.needs_weights:
        return model.eval().to(device)
    if weights is None:
        if entry.weights is None:
            trained = sorted({e.name for e in list_models() if e.scale == scale and e.weights is not None})
            hint = f" Models with weights at x{scale}: {', '.join(trained)}." if trained else ""
            raise WeightsError(
                f"no weights for {entry.name} x{scale} ship with restore: pass the authors' checkpoint "
                f"(restore.load_model({entry.name!r}, {scale}, weights='path/to/checkpoint.pt') or --weights PATH)."
                f"{hint} `restore zoo` lists every model and its weights."
            )
        if not entry.weights.exists():
            raise WeightsError(f"weights file {entry.weights} named by card {entry.card} is missing")
        if entry.sha256 and sha256_file(entry.weights) != entry.sha256:
            raise WeightsError(f"weights file {entry.weights} does not match the sha256 pinned in {entry.card}")
        weights = entry.weights
    load_official(model, weights)
    return model.float().eval().to(device)


@lru_cache(maxsize=None)
def count_params(arch: str, scale: int, config_json: str = "{}") -> int:
    import torch

    from restore.archs import build_model

    with torch.device("meta"):
        model = build_model(arch, scale, **json.loads(config_json))
    return sum(t.numel() for t in model.state_dict().values())


def format_params(params: int) -> str:
    """A parameter count for tables: ``"0"`` (a baseline without weights) or millions, ``"0.30 M"``."""
    return "0" if params == 0 else f"{params / 1e6:.2f} M"


@lru_cache(maxsize=None)
def count_gflops(arch: str, scale: int, config_json: str = "{}", size: int = 256) -> float:
    """GFLOPs (2 per multiply-add, attention included) of one forward on a size x size LR input."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from restore.archs import build_model

    with torch.device("meta"):
        model = build_model(arch, scale, **json.loads(config_json)).eval()
        x = torch.empty(1, 3, size, size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() / 1e9


def describe(entry: ZooEntry, with_gflops: bool = True) -> dict[str, Any]:
    """The JSON-able listing row of ``restore zoo --json``."""
    config_json = json.dumps(entry.config, sort_keys=True)
    return {
        "name": entry.name,
        "arch": entry.arch,
        "needs_weights": entry.needs_weights,
        "scale": entry.scale,
        "params": count_params(entry.arch, entry.scale, config_json),
        "gflops": round(count_gflops(entry.arch, entry.scale, config_json), 3) if with_gflops else None,
        "weights": str(entry.weights) if entry.weights else None,
        "card": str(entry.card) if entry.card else None,
        "description": entry.description,
        "metrics": entry.metrics,
    }
