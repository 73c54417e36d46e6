"""SR training options: a YAML recipe read into typed dataclasses (``restore.training.recipe``), then validated.

Everything that can be checked before training starts is checked here (unknown arch or hyperparameter,
missing or empty data folders, bad schedule), so a wrong options file fails in a second, naming the
problem, instead of an hour into a run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from restore.io.suffixes import IMAGE_SUFFIXES
from restore.paths import REPO_ROOT, data_root
from restore.training.recipe import OptionsError, build_options, read_recipe

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
    init_widen: bool = False  # init_from is a narrower network of this layout, embedded (restore/training/widen.py)


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


def load_options(path: str | Path, overrides: dict[str, Any] | None = None) -> Options:
    """The SR recipe at ``path`` with ``overrides`` (``{"train.lr": 1e-4}``) applied."""
    options = build_options(Options, read_recipe(path, overrides))
    options.source = Path(path)
    return options


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
    if options.train.init_widen and not options.train.init_from:
        raise OptionsError("train.init_widen needs train.init_from: the narrower network to start from")
    if options.runtime.amp not in ("auto", "bf16", "none"):
        raise OptionsError(f"runtime.amp must be auto, bf16 or none, got {options.runtime.amp!r}")
