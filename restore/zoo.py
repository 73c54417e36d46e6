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
import math
import os
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from restore.errors import WeightsError
from restore.hashing import sha256_file
from restore.paths import REPO_ROOT

# The set the zoo ranks models by: every card measures it, and it is the papers' headline number.
RANKING_SET = "Set5"
SR_TASK, STYLE_TASK = "super-resolution", "style transfer"
# A baseline's numbers measured under our protocol, with the command that measured them (bicubic's today).
MEASURED_BASELINE = str(REPO_ROOT / "restore" / "data" / "{arch}_measured.json")


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


def baseline_metrics(arch: str) -> dict[int, dict[str, Any]]:
    """{scale: {set: {"psnr", "ssim"}}} of a baseline under our protocol (restore/data/<arch>_measured.json),
    or {} when none was measured."""
    path = Path(MEASURED_BASELINE.format(arch=arch))
    if not path.is_file():
        return {}
    record = json.loads(path.read_text())
    return {int(scale): metrics for scale, metrics in record["metrics"].items()}


def _bundled_first(entry: ZooEntry) -> tuple:
    """Listing order: our trained models (per scale, best first), bicubic, then the paper configurations,
    which need the user's checkpoint."""
    if entry.card is not None:
        return (0, entry.scale, -_set5_psnr(entry), entry.name)
    if not entry.needs_weights:
        return (0, entry.scale, float("inf"), entry.name)
    return (1, entry.name, entry.scale)


@lru_cache(maxsize=8)
def _entries(archs: tuple[str, ...], cards: tuple[tuple[str, int], ...]) -> tuple[ZooEntry, ...]:
    from restore.archs import spec

    entries = [ZooEntry(name=arch, arch=arch, scale=scale, description=spec(arch).summary,
                        metrics={} if spec(arch).learned else baseline_metrics(arch).get(scale, {}))
               for arch in archs for scale in spec(arch).scales]
    entries += [_read_card(Path(path)) for path, _ in cards]
    return tuple(sorted(entries, key=_bundled_first))


def list_models() -> list[ZooEntry]:
    """Every registered super-resolution (name, scale): bundled models first (our trained models per scale,
    best Set5 first, then the baselines), then the architectures at their paper configurations, which take
    the authors' checkpoints."""
    from restore.archs import specs

    archs = tuple(arch.name for arch in sorted(specs(), key=lambda arch: (not arch.learned, arch.name)))
    root = models_dir()
    cards = sorted(root.glob("*_x[0-9].json")) if root.is_dir() else []
    # Keyed on the archs, the card files and their mtimes: a new arch or a new or edited card is seen without
    # a restart.
    return list(_entries(archs, tuple((str(p), p.stat().st_mtime_ns) for p in cards)))


def find_entry(name: str, scale: int) -> ZooEntry:
    """The entry of ``name`` at ``scale``; a baseline (bicubic), having no weights, exists at every integer
    scale >= 1."""
    from restore.archs import specs

    baselines = {arch.name: arch for arch in specs() if not arch.learned}
    if name.lower() in baselines and isinstance(scale, int) and scale >= 1:
        key = name.lower()
        listed = [e for e in list_models() if e.name == key and e.scale == scale]
        return listed[0] if listed else ZooEntry(name=key, arch=key, scale=scale,
                                                 description=baselines[key].summary)
    matches = [e for e in list_models() if e.name == name.lower() and e.scale == scale]
    if not matches:
        names = sorted({e.name for e in list_models()})
        scales = sorted({e.scale for e in list_models() if e.name == name.lower()})
        if scales:
            raise WeightsError(f"model {name!r} has no x{scale} entry; available scales: {scales}")
        raise WeightsError(f"unknown model {name!r}; known models: {', '.join(names)}")
    return matches[0]


def _set5_psnr(entry: ZooEntry) -> float:
    value = entry.metrics.get(RANKING_SET, {})
    return float(value["psnr"]) if isinstance(value, dict) and isinstance(value.get("psnr"), (int, float)) else 0.0


def ranked_models(scale: int) -> list[ZooEntry]:
    """Our trained models whose weights are present at ``scale``, best first.

    The one ranking rule of the zoo: Set5 PSNR on the card, higher first (ties by name). The first is
    the default of ``restore upscale``, ``restore zoo`` and the app (``--model auto``).
    """
    trained = [e for e in list_models()
               if e.card is not None and e.scale == scale and e.weights is not None and e.weights.exists()]
    return sorted(trained, key=lambda e: (-_set5_psnr(e), e.name))


def default_model(scale: int) -> str:
    """The best of our trained models at ``scale`` (:func:`ranked_models`), else ``bicubic``."""
    ranked = ranked_models(scale)
    return ranked[0].name if ranked else "bicubic"


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
    """The JSON-able listing row of ``restore zoo --json`` for a super-resolution entry."""
    config_json = json.dumps(entry.config, sort_keys=True)
    return {
        "name": entry.name,
        "task": SR_TASK,
        "arch": entry.arch,
        "needs_weights": entry.needs_weights,
        "scale": entry.scale,
        "params": count_params(entry.arch, entry.scale, config_json),
        "gflops": round(count_gflops(entry.arch, entry.scale, config_json), 3) if with_gflops else None,
        "weights": str(entry.weights) if entry.weights else None,
        "card": str(entry.card) if entry.card else None,
        "bundled": entry.has_weights,
        "default": entry.name == default_model(entry.scale),
        "description": entry.description,
        "metrics": entry.metrics,
    }


def _safetensors_params(path: Path) -> int:
    """Parameters in a safetensors file, from its JSON header alone (no tensor is read)."""
    with path.open("rb") as stream:
        (length,) = struct.unpack("<Q", stream.read(8))
        header = json.loads(stream.read(length))
    return sum(math.prod(item["shape"]) for key, item in header.items() if key != "__metadata__")


def style_models() -> list[dict[str, Any]]:
    """Listing rows of the style models in the zoo (cards ``models/<name>.json`` whose file is a SANet).

    ``params`` counts what the file holds (transformer and decoder); the frozen VGG-16 encoder is not in it.
    """
    root = models_dir()
    rows = []
    for card_path in sorted(root.glob("*.json")) if root.is_dir() else []:
        if card_path.stem[-3:-1] == "_x":
            continue  # a super-resolution card
        card = json.loads(card_path.read_text())
        if card.get("options", {}).get("task") != "style" or "file" not in card:
            continue
        weights = card_path.parent / card["file"]
        rows.append({
            "name": card.get("name", card_path.stem),
            "task": STYLE_TASK,
            "arch": "sanet",
            "scale": None,
            "params": _safetensors_params(weights) if weights.is_file() else None,
            "gflops": None,
            "weights": str(weights) if weights.is_file() else None,
            "card": str(card_path),
            "bundled": weights.is_file(),
            "default": True,
            "description": card.get("task", ""),
            "metrics": {"held_out": card["held_out_losses"]} if card.get("held_out_losses") else {},
        })
    return rows


def listing(name: str | None = None, scale: int | None = None, with_gflops: bool = True) -> list[dict[str, Any]]:
    """Every shipped model as listing rows, in the order ``restore zoo`` and the app show them: bundled
    super-resolution models (per scale, the default first), the style models, then the paper
    configurations that need the user's checkpoint. ``scale`` leaves out the style models (they have none)."""
    sr = [describe(e, with_gflops) for e in list_models()
          if (name is None or e.name == name) and scale in (None, e.scale)]
    style = [row for row in style_models() if name in (None, row["name"])] if scale is None else []
    bundled = [row for row in sr if row["bundled"]]
    return bundled + style + [row for row in sr if not row["bundled"]]
