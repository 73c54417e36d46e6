"""Training options: a YAML recipe parsed into typed, validated dataclasses.

Everything that can be checked before training starts is checked here (unknown arch or hyperparameter,
missing or empty data folders, bad schedule), so a wrong options file fails in a second, naming the
problem, instead of an hour into a run.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from restore.errors import RestoreError
from restore.io.suffixes import IMAGE_SUFFIXES
from restore.paths import REPO_ROOT, data_root


class OptionsError(RestoreError):
    """The options file is wrong; the message names the field and the problem."""




@dataclass
class DataOptions:
    train: list[str] = field(default_factory=lambda: ["train/T91", "train/BSD200", "train/photos"])
    patch_size: int = 48  # LR patch side
    batch_size: int = 16
    sampling: str = "area"  # "area": uniform over pixels; "image": uniform over images
    val: str | None = "Set5"


@dataclass
class ScheduleOptions:
    type: str = "cosine"  # "cosine" or "step"
    warmup: int = 0
    eta_min: float = 1e-6
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.5


@dataclass
class TrainOptions:
    iterations: int = 10000
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    schedule: ScheduleOptions = field(default_factory=ScheduleOptions)
    ema: float = 0.0  # 0 disables the exponential moving average of the weights
    grad_clip: float = 0.0  # 0 disables gradient-norm clipping
    seed: int = 0
    init_from: str | None = None  # checkpoint whose matching (non-upsampler) weights start this run


@dataclass
class RuntimeOptions:
    device: str = "auto"
    channels_last: bool = True
    compile: bool = False
    amp: str = "auto"  # "auto": bf16 autocast on CUDA, none on CPU; or "bf16" / "none"
    threads: int | None = None


@dataclass
class CheckpointOptions:
    dir: str | None = None  # default runs/<name>
    every_seconds: float = 300.0
    every_iterations: int = 0
    keep: int = 2


@dataclass
class Options:
    name: str
    arch: str
    scale: int
    network: dict[str, Any] = field(default_factory=dict)
    data: DataOptions = field(default_factory=DataOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    checkpoint: CheckpointOptions = field(default_factory=CheckpointOptions)
    validation_every: int = 1000
    log_every: int = 50
    source: Path | None = None

    @property
    def run_dir(self) -> Path:
        return Path(self.checkpoint.dir) if self.checkpoint.dir else REPO_ROOT / "runs" / self.name


def _build(cls, raw: Any, where: str):
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise OptionsError(f"{where}: expected a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise OptionsError(f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    values = {}
    for key, value in raw.items():
        nested = fields[key].type
        if isinstance(nested, str) and nested in _NESTED:
            value = _build(_NESTED[nested], value, f"{where}.{key}")
        elif key == "betas":
            value = tuple(value)
        values[key] = value
    return cls(**values)


_NESTED = {
    "DataOptions": DataOptions,
    "ScheduleOptions": ScheduleOptions,
    "TrainOptions": TrainOptions,
    "RuntimeOptions": RuntimeOptions,
    "CheckpointOptions": CheckpointOptions,
}


def parse_options(raw: dict[str, Any], source: Path | None = None) -> Options:
    for required in ("name", "arch", "scale"):
        if required not in raw:
            raise OptionsError(f"missing required option {required!r}")
    options = _build(Options, {k: v for k, v in raw.items() if k != "source"}, "options")
    options.source = source
    return options


def load_options(path: str | Path, overrides: dict[str, Any] | None = None) -> Options:
    path = Path(path)
    if not path.is_file():
        raise OptionsError(f"options file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise OptionsError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise OptionsError(f"{path}: the options file must be a mapping")
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return parse_options(raw, source=path)


def resolve_data_folder(folder: str, root: Path | None = None) -> Path:
    path = Path(folder)
    return path if path.is_absolute() else data_root(root) / path


def resolve_repo_path(path: str | Path) -> Path:
    """Paths inside recipes (init_from) are relative to the repository root, not the working directory."""
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


def validate(options: Options, root: Path | None = None) -> None:
    """Fail before training on anything that would fail later."""
    from restore.archs import build_model, specs

    trainable = [arch.name for arch in specs() if arch.learned]
    if options.arch not in trainable:
        raise OptionsError(f"unknown arch {options.arch!r}; trainable archs: {', '.join(trainable)}")
    if options.scale not in (2, 3, 4):
        raise OptionsError(f"scale must be 2, 3 or 4, got {options.scale}")
    try:
        import torch

        with torch.device("meta"):
            build_model(options.arch, options.scale, **options.network)
    except (TypeError, ValueError) as exc:  # an unknown hyperparameter, attention or attention option
        raise OptionsError(f"network options do not fit arch {options.arch!r}: {exc}") from exc
    if not options.data.train:
        raise OptionsError("data.train lists no folders")
    for folder in options.data.train:
        path = resolve_data_folder(folder, root)
        if not path.is_dir():
            raise OptionsError(f"training data folder not found: {path} (data.train entry {folder!r})")
        if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
            raise OptionsError(f"training data folder has no images: {path}")
    if options.data.sampling not in ("area", "image"):
        raise OptionsError(f"data.sampling must be 'area' or 'image', got {options.data.sampling!r}")
    if options.train.schedule.type not in ("cosine", "step"):
        raise OptionsError(f"train.schedule.type must be 'cosine' or 'step', got {options.train.schedule.type!r}")
    if options.train.init_from and not resolve_repo_path(options.train.init_from).is_file():
        raise OptionsError(f"train.init_from checkpoint not found: {options.train.init_from}")
    if options.runtime.amp not in ("auto", "bf16", "none"):
        raise OptionsError(f"runtime.amp must be auto, bf16 or none, got {options.runtime.amp!r}")
