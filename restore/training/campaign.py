"""A wall-clock-bound training campaign for a lent GPU machine (``scripts/gpu_campaign.sh``).

Such a machine runs one command of at most 10 minutes and returns at most 8 files of 16 MiB from ``$OUT``.
So the campaign (``options/gpu_campaign*.yml``) is a list of stages, each an ordinary recipe with overrides,
trained in turn by the ordinary Trainer on the packed data (``restore.training.gpu_pack``):

* every stage gets its share of the time left when it starts, and the whole campaign ends ``minutes`` after it
  began, so the command ends well inside the limit whatever the machine's start-up cost;
* the cosine schedule needs a total number of iterations, which depends on the unknown speed of the machine:
  the stage trains in slices of ``slice_seconds``, and after each the total is re-estimated from that slice's
  speed and the time left, so the schedule ends near the stage's deadline (re-estimating often keeps the
  learning rate close to a cosine in time even when the first slice is slow with warm-up work);
* every ``publish_every_seconds`` and at the end of each stage, the stage's weights (EMA when the recipe keeps
  one) are written to ``out`` as float16 safetensors shards (each < 16 MiB) plus a card, overwriting the
  stage's previous save: a run cut at any point still returns its latest weights, and the file count is
  fixed before training starts (checked against the limit of 8);
* ``restore zoo export OUT/<name>_x<s>.json --name NAME`` measures and publishes the returned weights like
  any run (``restore.training.export``).

``dry_run`` in the plan holds tiny settings for the same code path on the CPU.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from restore.errors import RestoreError
from restore.paths import REPO_ROOT
from restore.training.options import Options, load_options, validate

MAX_FILES = 8
MAX_FILE_BYTES = 16 * 2**20
MAX_TREE_BYTES = 64 * 2**20  # the working tree that travels to the lent machine, carried folders included
LOG_NAME = "campaign.log"
SCHEDULE_MARGIN = 0.97  # the schedule's re-estimated total aims a little short of the deadline
INITIAL_TOTAL = 10**7  # while calibrating, the cosine stays at its peak


class CampaignError(RestoreError):
    """The campaign plan is wrong or would not fit the lent machine's limits."""


@dataclass
class Stage:
    name: str  # the zoo name the weights are published under: <name>_x<scale>.*
    recipe: str  # a training recipe, relative to the repository
    share: float = 1.0  # of the time left when the stage starts, against the later stages' shares
    # "recipe": the recipe's train.init_from; "previous": the previous stage's weights (the x2 body for x4);
    # a path relative to the repository; or null: from scratch.
    init: str | None = "recipe"
    set: dict[str, Any] = field(default_factory=dict)  # dotted overrides of the recipe (as `restore train --set`)


@dataclass
class Plan:
    stages: list[Stage]
    minutes: float = 8.0  # from the start of the command to the end of the last save
    publish_every_seconds: float = 120.0
    slice_seconds: float = 20.0  # how often the schedule's total is re-estimated
    shard_mib: float = 15.9
    log_every: int = 500
    data_root: str = "cache/gpu/data"  # the pack (scripts/pack_gpu_cache.py), relative to the repository
    train_folder: str = "train/tiles"
    # Validated at every save (the card's learning curve); null skips it, e.g. in a CPU dry run of a network
    # too large to run Set5 on the CPU within minutes.
    validation: str | None = "Set5"
    dry_run: bool = False
    source: Path | None = None


_PLAN_KEYS = {"minutes", "publish_every_seconds", "slice_seconds", "shard_mib", "log_every", "data_root",
              "train_folder", "validation"}


def load_plan(path: str | os.PathLike, *, dry_run: bool = False) -> Plan:
    """The plan in ``path``; with ``dry_run`` its ``dry_run`` block's settings replace the real ones."""
    path = Path(path)
    if not path.is_file():
        raise CampaignError(f"campaign plan not found: {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    dry = raw.pop("dry_run", {}) or {}
    stages_raw = raw.pop("stages", None)
    unknown = sorted(set(raw) - _PLAN_KEYS) + sorted(set(dry) - _PLAN_KEYS - {"set"})
    if unknown:
        raise CampaignError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_PLAN_KEYS))}")
    if not stages_raw:
        raise CampaignError(f"{path}: no stages")
    stages = []
    for i, entry in enumerate(stages_raw):
        try:
            stage = Stage(**entry)
        except TypeError as exc:
            raise CampaignError(f"{path}: stage {i + 1}: {exc}") from exc
        if dry_run:
            stage.set = {**stage.set, **dry.get("set", {})}
        stages.append(stage)
    settings = {**raw, **({k: v for k, v in dry.items() if k != "set"} if dry_run else {})}
    return Plan(stages=stages, dry_run=dry_run, source=path, **settings)


def _repo_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


def repo_relative(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


class Campaign:
    """Runs a plan's stages into ``out``; ``log`` lines also go to ``out/campaign.log``."""

    def __init__(self, plan: Plan, out: Path, work: Path, log: Callable[[str], None] = print) -> None:
        self.plan, self.out, self.work = plan, out, work
        self.data_root = _repo_path(plan.data_root)
        self.max_bytes = int(plan.shard_mib * 2**20)
        if not 0 < self.max_bytes < MAX_FILE_BYTES:
            raise CampaignError(f"shard_mib must be below {MAX_FILE_BYTES / 2**20:.0f}, got {plan.shard_mib}")
        self._print = log
        self.started = time.monotonic()
        self.end = self.started + plan.minutes * 60
        self.last_publish = self.started
        self.results: list[dict] = []

    # ------------------------------------------------------------------------------------------- plumbing
    def log(self, message: str) -> None:
        line = f"[{time.monotonic() - self.started:6.1f}s] {message}"
        self._print(line)
        with open(self.out / LOG_NAME, "a") as handle:
            handle.write(line + "\n")

    def stage_options(self, index: int, init_from: str | None) -> Options:
        stage, plan = self.plan.stages[index], self.plan
        overrides = {
            **stage.set,
            "data.train": [plan.train_folder],
            "data.val": plan.validation,
            "train.init_from": init_from,
            "train.iterations": INITIAL_TOTAL,
            "checkpoint.dir": str(self.work / f"stage{index + 1}"),
            "checkpoint.every_seconds": 1e9,  # the campaign saves (publishes) on its own clock
            "checkpoint.keep": 1,
            "validation_every": 0,  # validated at every publish instead
            "log_every": plan.log_every,
        }
        overrides.setdefault("runtime.amp", "bf16")
        return load_options(_repo_path(stage.recipe), overrides)

    def _init_for(self, index: int) -> str | None:
        stage = self.plan.stages[index]
        if stage.init == "recipe":
            return load_options(_repo_path(stage.recipe)).train.init_from
        if stage.init == "previous":
            if index == 0:
                raise CampaignError(f"stage 1 ({stage.name}) cannot start from a previous stage")
            return str(self.work / f"stage{index}.safetensors")
        return stage.init

    def check(self) -> int:
        """Validate every stage and count the files the run will leave in ``out``; returns that count."""
        from restore.archs import build_model
        from restore.training.shards import count_shards

        tiles = self.data_root / self.plan.train_folder
        if not tiles.is_dir():
            raise CampaignError(f"no packed training data at {tiles}: build it with scripts/pack_gpu_cache.py "
                                "and name cache/gpu in the device tool's carry list")
        files, stems = 1, set()  # the log
        for index, stage in enumerate(self.plan.stages):
            init = self._init_for(index)
            # A previous stage's weights do not exist yet: validate with the init left out.
            options = self.stage_options(index, None if stage.init == "previous" else init)
            validate(options, self.data_root)
            stem = f"{stage.name}_x{options.scale}"
            if stem in stems:
                raise CampaignError(f"two stages publish {stem}: give them different names or scales")
            stems.add(stem)
            with torch.device("meta"):
                shapes = {k: v.shape for k, v in build_model(options.arch, options.scale, **options.network)
                          .state_dict().items()}
            files += count_shards(shapes, self.max_bytes) + 1
        if files > MAX_FILES:
            raise CampaignError(f"the plan would leave {files} files in $OUT; the lent machine returns {MAX_FILES}")
        return files

    # ------------------------------------------------------------------------------------------- running
    def run(self) -> list[dict]:
        self.out.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        files = self.check()
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.log(f"campaign {repo_relative(self.plan.source) if self.plan.source else '-'}"
                 f"{' (dry run)' if self.plan.dry_run else ''}: {len(self.plan.stages)} stages in "
                 f"{self.plan.minutes} min on {device}, {files} files into {self.out}")
        for index, stage in enumerate(self.plan.stages):
            now = time.monotonic()
            shares_left = sum(s.share for s in self.plan.stages[index:])
            deadline = now + max(0.0, self.end - now) * stage.share / shares_left
            result = self.run_stage(index, deadline)
            self.results.append(result)
            if result["stop_requested"]:
                self.log("stop requested: later stages skipped")
                break
        for result in self.results:
            last = result["validations"][-1] if result["validations"] else {}
            scores = ", ".join(f"{k[:-5]} {v:.3f} dB" for k, v in last.items() if k.endswith("_psnr"))
            self.log(f"{result['stem']}: {result['iterations']} iterations in {result['seconds']:.0f} s"
                     f"{', ' + scores if scores else ''}")
        return self.results

    def run_stage(self, index: int, deadline: float) -> dict:
        from restore.training.trainer import Trainer

        stage = self.plan.stages[index]
        stage_start = time.monotonic()
        options = self.stage_options(index, self._init_for(index))
        trainer = Trainer(options, data_root=self.data_root, cache_root=self.work / "patches", log=self.log)
        _ = trainer.sampler  # decode and degrade the tiles before the clock of the first slice starts
        stem = f"{stage.name}_x{options.scale}"
        self.log(f"stage {index + 1} {stem}: {options.arch} {options.network}, batch {options.data.batch_size}, "
                 f"patch {options.data.patch_size}, {deadline - time.monotonic():.0f} s left for it")
        validations: list[dict] = []
        slice_end = min(deadline, time.monotonic() + self.plan.slice_seconds)
        stop_requested = False
        while True:
            slice_start, first = time.monotonic(), trainer.iteration
            outcome = trainer.train(deadline=slice_end)
            now = time.monotonic()
            if outcome["stop_requested"]:
                stop_requested = True
                break
            if now >= deadline or trainer.iteration >= options.train.iterations:
                break
            rate = (trainer.iteration - first) / max(now - slice_start, 1e-6)
            options.train.iterations = trainer.iteration + max(1, int(rate * (deadline - now) * SCHEDULE_MARGIN))
            if now - self.last_publish >= self.plan.publish_every_seconds:
                self.publish(index, trainer, validations)
            slice_end = min(deadline, now + self.plan.slice_seconds,
                            self.last_publish + self.plan.publish_every_seconds)
        card = self.publish(index, trainer, validations)
        # Full precision for a later stage's start (not returned: only the published float16 files are).
        from safetensors.torch import save_file

        weights = (trainer.ema.module if trainer.ema else trainer.model).state_dict()
        save_file({k: v.detach().float().cpu().contiguous() for k, v in weights.items()},
                  str(self.work / f"stage{index + 1}.safetensors"))
        return {"stem": stem, "iterations": trainer.iteration, "validations": validations,
                "seconds": time.monotonic() - stage_start, "card": card, "stop_requested": stop_requested}

    # ---------------------------------------------------------------------------------------- publishing
    def publish(self, index: int, trainer, validations: list[dict]) -> Path:
        """Write the stage's float16 shards and card into ``out``, replacing its previous save."""
        from restore.training.shards import save_shards

        options = trainer.options
        stem = f"{self.plan.stages[index].name}_x{options.scale}"
        psnr = trainer.validate() if options.data.val else None
        if psnr is not None:
            validations.append({"core_hours": round(trainer.cpu_seconds / 3600, 4), "iteration": trainer.iteration,
                                f"{options.data.val}_psnr": round(psnr, 4), "wall_seconds": round(trainer.wall_seconds, 1)})
        weights = (trainer.ema.module if trainer.ema else trainer.model).state_dict()
        shards = save_shards(weights, self.out, stem, self.max_bytes)
        card = self._card(index, trainer, shards, validations)
        path = self.out / f"{stem}.json"
        partial = self.out / f"{stem}.json.partial"
        partial.write_text(json.dumps(card, indent=2) + "\n")
        os.replace(partial, path)
        self.last_publish = time.monotonic()
        self._check_out()
        measured = "not validated"
        if psnr is not None:
            measured = f"{options.data.val} {psnr:.3f} dB ({options.runtime.amp} autocast)"
        self.log(f"saved {stem}: iteration {trainer.iteration}, {measured}, {card['training']['weights_exported']} "
                 f"weights, {len(shards)} weight file(s)")
        return path

    def _check_out(self) -> None:
        files = [p for p in self.out.rglob("*") if p.is_file()]
        large = [f"{p.name} ({p.stat().st_size} bytes)" for p in files if p.stat().st_size >= MAX_FILE_BYTES]
        if len(files) > MAX_FILES or large:
            raise CampaignError(f"{self.out} holds {len(files)} files (at most {MAX_FILES}); too large: "
                                f"{', '.join(large) or 'none'}")

    def _card(self, index: int, trainer, shards: list[dict], validations: list[dict]) -> dict:
        """The card in the shape `restore zoo export` writes, with the shards it reassembles."""
        from restore.training.hardware import describe_hardware
        from restore.zoo import count_gflops, count_params

        stage, options = self.plan.stages[index], trainer.options
        config_json = json.dumps(options.network, sort_keys=True)
        core_hours = trainer.cpu_seconds / 3600
        training: dict[str, Any] = {
            "recipe": stage.recipe,
            "campaign": {
                "plan": repo_relative(self.plan.source) if self.plan.source else None,
                "stage": index + 1,
                "overrides": stage.set,
                "init": stage.init,
                "dry_run": self.plan.dry_run,
                "amp": options.runtime.amp,
                "batch_size": options.data.batch_size,
                "patch_size": options.data.patch_size,
                "schedule_total": options.train.iterations,
            },
            "data": self._data_description(),
            "iterations": trainer.iteration,
            "wall_hours": round(trainer.wall_seconds / 3600, 4),
            "core_hours": round(core_hours, 4),
            "hardware": describe_hardware(trainer.device),
            "weights_exported": "EMA" if trainer.ema else "raw",
            "exported": time.strftime("%Y-%m-%d"),
            "validations": validations,
        }
        parent = self._parent(index)
        if parent:
            training["started_from"] = parent
            training["lineage_core_hours"] = round(parent["lineage_core_hours"] + core_hours, 4)
        card: dict[str, Any] = {
            "name": stage.name,
            "arch": options.arch,
            "scale": options.scale,
            "config": options.network,
        }
        if len(shards) == 1:
            card |= {"weights": shards[0]["file"], "sha256": shards[0]["sha256"]}
        card |= {
            "shards": shards,
            "dtype": "float16",
            "params": count_params(options.arch, options.scale, config_json),
            "gflops_256": round(count_gflops(options.arch, options.scale, config_json), 3),
            "summary": f"{options.arch.upper()} x{options.scale} {json.dumps(options.network)} trained on a lent "
            f"machine by scripts/gpu_campaign.sh",
            "training": training,
            "metrics": {},
        }
        return card

    def _parent(self, index: int) -> dict | None:
        """What the stage started from, with the core-hours behind it (as `restore zoo export` records)."""
        from restore.training.export import zoo_parent

        stage = self.plan.stages[index]
        if stage.init == "previous":
            previous = self.results[index - 1]
            card = json.loads(previous["card"].read_text())
            training = card["training"]
            return {"weights": f"{previous['stem']} (stage {index} of this campaign)",
                    "sha256": card.get("sha256"), "core_hours": training["core_hours"],
                    "lineage_core_hours": training.get("lineage_core_hours", training["core_hours"])}
        init = self._init_for(index)
        return zoo_parent(_repo_path(init)) if init else None

    def _data_description(self) -> str:
        manifest_path = self.data_root.parent / "pack.json"
        if not manifest_path.is_file():
            return f"{self.plan.data_root}/{self.plan.train_folder} (no pack.json)"
        manifest = json.loads(manifest_path.read_text())
        return (f"cache/gpu pack: {manifest['tiles']} lossless HR tiles ({manifest['megapixels']} MP) of "
                f"../shared/datasets/{', '.join(manifest['sources'])} "
                f"(seed {manifest['seed']}, flattest {manifest['flat_fraction_dropped']:.0%} dropped); "
                "no benchmark set")


def travelling_bytes(carried: list[Path]) -> int:
    """Bytes a device call sends from this checkout: its tracked and untracked-but-not-ignored files (git's
    view), plus the ignored folders ``carried``. A symbolic link travels as a link and is not counted."""
    import subprocess

    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=REPO_ROOT, capture_output=True, check=True).stdout
    files = [REPO_ROOT / name for name in listing.decode().split("\0") if name]
    for folder in carried:
        files += folder.rglob("*")
    return sum(path.stat().st_size for path in files if path.is_file() and not path.is_symlink())


def open_campaign(plan: Plan, out: Path, work: Path, log: Callable[[str], None] = print) -> Campaign:
    """The campaign that runs ``plan``: this module's for SR recipes, ``restore.style.campaign``'s for style
    recipes (``task: style``)."""
    from restore.style.campaign import StyleCampaign, is_style_plan

    kind = StyleCampaign if is_style_plan([stage.recipe for stage in plan.stages]) else Campaign
    return kind(plan, out, work, log=log)


def default_out() -> Path:
    """``$OUT`` on a lent machine; elsewhere a fresh temporary folder."""
    import tempfile

    env = os.environ.get("OUT")
    return Path(env) if env else Path(tempfile.mkdtemp(prefix="gpu_campaign_"))
