"""SANet stages of a lent-GPU campaign (``scripts/gpu_campaign.sh --plan options/gpu_campaign_sanet.yml``).

The plan has the SR campaign's shape and rules (``restore.training.campaign``: the time shares, ``minutes`` from
the command's start to the last save, a save every ``publish_every_seconds``, at most 8 files under 16 MiB);
its ``data_root`` is the style pack (``restore.style.gpu_pack``). Each stage is the ordinary StyleTrainer on an
ordinary style recipe plus the stage's overrides, fed from the pack, with bf16 autocast of the networks' passes.
What differs from an SR stage:

* the learning rate, ``lr / (1 + lr_decay * t)``, does not depend on the run's length, so the stage trains
  straight from one save to the next (no schedule to re-estimate);
* a save goes through the style export (``restore.style.train.run_card``, ``write_style_model``): the weights
  (their moving average when the recipe keeps one) as one float16 file ``<name>.safetensors`` (transformer +
  decoder, 14.1 MiB: under the limit, no shards) with its card ``<name>.json`` and ``<name>.md``, the card in the
  zoo's shape plus ``campaign`` (plan, stage, overrides, data) and ``validations``: the held-out measures of
  ``restore.style.evaluate`` on the pack's held-out pairs at every save (plan ``validation: held-out``; null
  skips them);
* ``restore train-style RECIPE --export models/sanet-vgg16.safetensors --from OUT/<name>.safetensors`` measures
  the returned model on all held-out pairs here and publishes it like a CPU run's export.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from restore.style.gpu_pack import check_pack_fits, load_style_pack, read_manifest
from restore.style.train import StyleData, StyleOptions, StyleTrainer, load_style_options, run_card
from restore.training.campaign import MAX_FILES, Campaign, CampaignError, Plan, repo_relative
from restore.training.options import resolve_repo_path

HELD_OUT = "held-out"  # a style plan's `validation`: the pack's held-out pairs at every save
FILES_PER_STAGE = 3  # <name>.safetensors, <name>.json, <name>.md


class StyleCampaign(Campaign):
    """Runs a plan of style stages into ``out`` (see the module docstring)."""

    def __init__(self, plan: Plan, out: Path, work: Path, log: Callable[[str], None] = print) -> None:
        super().__init__(plan, out, work, log)
        self._data: StyleData | None = None  # the pack, decoded once for all the stages

    def stage_options(self, index: int, init_from: str | None) -> StyleOptions:
        stage = self.plan.stages[index]
        overrides = {
            **stage.set,
            "train.init_from": init_from,
            "runs_dir": str(self.work / f"stage{index + 1}"),
            "checkpoint_every_seconds": 10**9,  # the campaign saves on its own clock
            "snapshot_every": 0,
            "log_every": self.plan.log_every,
        }
        overrides.setdefault("amp", "bf16")
        return load_style_options(resolve_repo_path(stage.recipe), overrides)

    def _init_for(self, index: int) -> str | None:
        stage = self.plan.stages[index]
        if stage.init == "recipe":
            return load_style_options(resolve_repo_path(stage.recipe)).train.init_from
        if stage.init == "previous":
            raise CampaignError(f"stage {index + 1} ({stage.name}): a style stage starts from its recipe's init_from "
                                "('recipe'), a model file or null, not from a previous stage")
        return stage.init

    def check(self) -> int:
        """Validate every stage against the pack and count the files the run will leave in ``out``."""
        from restore.style.build import build_sanet

        manifest = read_manifest(self.data_root)
        if self.plan.validation not in (HELD_OUT, None):
            raise CampaignError(f"a style plan validates on {HELD_OUT!r} (the pack's pairs) or null, "
                                f"not {self.plan.validation!r}")
        with torch.device("meta"):
            network = build_sanet("vgg16", encoder_weights=False)
        weight_bytes = sum(2 * p.numel() for part in (network.transformer, network.decoder) for p in part.parameters())
        if weight_bytes >= self.max_bytes:
            raise CampaignError(f"a style model's float16 weights ({weight_bytes / 2**20:.1f} MiB) would not fit one "
                                f"returned file of {self.max_bytes / 2**20:.1f} MiB")
        files, names = 1, set()  # the log
        for index, stage in enumerate(self.plan.stages):
            init = self._init_for(index)
            options = self.stage_options(index, init)
            check_pack_fits(manifest, options.data, self.data_root)
            if options.data.crop > options.data.resize_short:
                raise CampaignError(f"stage {index + 1}: crop {options.data.crop} exceeds the packed images' short "
                                    f"side {options.data.resize_short}")
            if init and not resolve_repo_path(init).is_file():
                raise CampaignError(f"stage {index + 1}: no model to start from at {init}")
            if stage.name in names:
                raise CampaignError(f"two stages publish {stage.name}: give them different names")
            names.add(stage.name)
            files += FILES_PER_STAGE
        if files > MAX_FILES:
            raise CampaignError(f"the plan would leave {files} files in $OUT; the lent machine returns {MAX_FILES}")
        return files

    def run_stage(self, index: int, deadline: float) -> dict:
        stage = self.plan.stages[index]
        stage_start = time.monotonic()
        options = self.stage_options(index, self._init_for(index))
        if self._data is None:
            self._data = load_style_pack(self.data_root)
        trainer = StyleTrainer(options, data=self._data, log=self.log)
        if trainer.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # one crop size throughout: let cuDNN time its convolutions once
        self.log(f"stage {index + 1} {stage.name}: {trainer.describe()}, batch {options.data.batch_size}, lr "
                 f"{options.train.lr:g}, {len(trainer.contents)} contents and {len(trainer.styles)} paintings, "
                 f"{deadline - time.monotonic():.0f} s left for it")
        validations: list[dict] = []
        stop_requested = False
        while True:
            outcome = trainer.train(deadline=min(deadline, self.last_publish + self.plan.publish_every_seconds))
            if outcome["stop_requested"]:
                stop_requested = True
                break
            if time.monotonic() >= deadline or trainer.iteration >= options.train.iterations:
                break
            self.publish(index, trainer, validations)
        card = self.publish(index, trainer, validations)
        return {"stem": stage.name, "iterations": trainer.iteration, "validations": validations,
                "seconds": time.monotonic() - stage_start, "card": card, "stop_requested": stop_requested}

    def publish(self, index: int, trainer: StyleTrainer, validations: list[dict]) -> Path:
        """Export the stage's weights, card and readable card into ``out``, replacing its previous save (the
        trainer has just written its checkpoint: every training slice ends with one)."""
        from restore.style.models import card_path, write_style_model

        stage, options = self.plan.stages[index], trainer.options
        if self.plan.validation:
            validations.append({"iteration": trainer.iteration, "core_hours": round(trainer.cpu_seconds / 3600, 4),
                                "wall_seconds": round(trainer.wall_seconds, 1), **self._validate(trainer)})
        card, weights, _ = run_card(options, stage.recipe)
        card |= {
            "name": stage.name,
            "campaign": {
                "plan": repo_relative(self.plan.source) if self.plan.source else None,
                "stage": index + 1,
                "overrides": stage.set,
                "init": stage.init,
                "dry_run": self.plan.dry_run,
                "amp": "bf16" if trainer.use_bf16 else "none",
                "data": self._data_description(),
            },
            "validations": validations,
        }
        path = write_style_model(weights, self.out / f"{stage.name}.safetensors", card)
        self.last_publish = time.monotonic()
        self._check_out()
        measured = "not validated"
        if validations:
            last = validations[-1]
            measured = (f"{last['pairs']} held-out pairs: content {last['content_loss']:.3f}, style "
                        f"{last['style_loss']:.3f}, reconstruction {last['reconstruction_psnr']:.2f} dB")
        self.log(f"saved {path.name} and {card_path(path).name}: iteration {trainer.iteration}, {measured}, "
                 f"{card['weights_exported']} weights")
        return card_path(path)

    def _validate(self, trainer: StyleTrainer) -> dict:
        """The held-out measures (``restore.style.evaluate``) of the weights a save exports, on the pack's pairs."""
        from restore.archs.sanet import SANet
        from restore.style.evaluate import held_out_losses

        validation = read_manifest(self.data_root)["validation"]
        pairs = [tuple(pair["files"]) for pair in validation["pairs"]]
        exported = trainer.exported
        network = SANet(trainer.network.encoder, exported["transformer"], exported["decoder"])
        measured = held_out_losses(network, self.data_root, pairs, size=validation["size"])
        trainer.model.train()
        return measured

    def _data_description(self) -> str:
        manifest = read_manifest(self.data_root)
        split, sizes, data = manifest["split"], manifest["split_sizes"], manifest["data"]
        return (f"{repo_relative(self.data_root)} pack: {split['content_train']} of the split's "
                f"{sizes['content_train']} training contents and {split['style_train']} of its {sizes['style_train']} "
                f"paintings (JPEG q{manifest['jpeg_quality']} at short side {data['resize_short']}, seed "
                f"{manifest['seed']}); the encoder's float16 copy and the loss calibration of the whole split; "
                f"validations on "
                f"{len(manifest['validation']['pairs'])} held-out pairs at {manifest['validation']['size']} px")


def is_style_plan(recipes: list[str]) -> bool:
    """Whether a plan's stage recipes are style recipes (``task: style``); a plan mixing tasks is refused."""
    from restore.training.recipe import read_recipe

    tasks = {read_recipe(resolve_repo_path(recipe)).get("task", "sr") for recipe in recipes}
    if len(tasks) > 1:
        raise CampaignError(f"a plan's stages train one task, not {', '.join(sorted(tasks))}: make two plans")
    return tasks == {"style"}

