"""SANet training (paper recipe: content 1, style 3, identity 50 and 1): the one training core's style plug-in.

Options come from a YAML recipe (``options/sanet-vgg16.yml``) read by ``restore.training.recipe``. The core
(``restore.training.core``) runs the loop, the EMA, the log and the checkpoint; this module brings what is
style-specific: the crop banks and held-out split, the paper's losses, snapshots and the export with its card.
The run folder ``runs/<name>/`` holds ``checkpoint.pt`` (weights, optimiser, iteration, times; replaced
atomically every ``checkpoint_every_seconds``), ``log.jsonl`` (losses), ``split.json`` (the held-out lists) and,
with ``snapshot_every``, ``snapshots/iter_NNNNNN.safetensors`` (the float16 model an export at that iteration
would write, with a small JSON of its iteration and core-hours) so held-out losses can be traced along the run.
For the core's exact resume, the batch of iteration t is drawn from ``numpy.random.default_rng([seed, t])``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from restore.checkpoint import load_official
from restore.errors import RestoreError
from restore.hashing import sha256_file
from restore.paths import REPO_ROOT, data_root
from restore.style import losses
from restore.style.build import build_sanet
from restore.style.data import ImageBank, batch_crops, image_tensor, list_images, load_bank, split_holdout
from restore.training.core import TrainingRun, read_checkpoint_file, read_log
from restore.training.hardware import describe_hardware
from restore.training.recipe import OptionsError, build_options, read_recipe


@dataclass
class StyleDataOptions:
    content: list[str] = field(
        default_factory=lambda: ["train/T91", "train/BSD200", "train/photos", "style/content"]
    )
    style: list[str] = field(default_factory=lambda: ["style/style"])
    resize_short: int = 256
    crop: int = 128
    batch_size: int = 4
    holdout_every: int = 10


@dataclass
class LossWeights:
    content: float = 1.0
    style: float = 3.0
    identity1: float = 50.0
    identity2: float = 1.0


@dataclass
class StyleTrainOptions:
    iterations: int = 160000
    lr: float = 1e-4
    lr_decay: float = 5e-5  # official: lr / (1 + lr_decay * iteration)
    seed: int = 0
    weights: LossWeights = field(default_factory=LossWeights)
    # A style model (.safetensors, relative to the repository root) whose transformer and decoder start a new
    # run (fresh optimiser, iteration 0): how a recipe change continues from the committed model.
    init_from: str | None = None
    # Compute the losses on taps divided by each channel's mean activation over training images (the paper's
    # loss network is such a normalised VGG; see losses.normalise_taps). The transform still reads raw taps.
    normalised_loss_features: bool = False
    # Exponential moving average of the transformer and decoder weights (0: off). Snapshots and exports take
    # the average: with batches of two the raw weights' held-out losses swing from one checkpoint to the next.
    ema: float = 0.0


AMP_CHOICES = ("auto", "bf16", "none")


@dataclass
class StyleOptions:
    name: str
    task: str = "style"
    encoder: str = "vgg16"
    data: StyleDataOptions = field(default_factory=StyleDataOptions)
    train: StyleTrainOptions = field(default_factory=StyleTrainOptions)
    threads: int = 0  # 0: torch's default
    device: str = "auto"  # the engine's choice: CUDA, then MPS, then the CPU
    # bf16 autocast of the networks' passes (the losses stay float32): "auto" on CUDA only, "bf16", or "none".
    amp: str = "auto"
    checkpoint_every_seconds: int = 120
    log_every: int = 10
    snapshot_every: int = 0  # iterations between kept model snapshots; 0 keeps none
    runs_dir: str = "runs"

    @property
    def run_dir(self) -> Path:
        return REPO_ROOT / self.runs_dir / self.name


def load_style_options(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> StyleOptions:
    """The style recipe at ``path`` with ``overrides`` (``{"train.lr": 1e-4}``) applied."""
    values = read_recipe(path, overrides)
    if values.get("task", "style") != "style":
        raise OptionsError(f"{path}: task is {values.get('task')!r}, expected 'style'")
    options = build_options(StyleOptions, values, str(path))
    if options.amp not in AMP_CHOICES:
        raise OptionsError(f"{path}: amp must be one of {', '.join(AMP_CHOICES)}, got {options.amp!r}")
    return options


@dataclass
class StyleData:
    """A style run's data when it arrives ready-made instead of from the data root (the lent GPU's pack,
    ``restore.style.gpu_pack``): decoded training banks, the split they come from, the encoder's weights and
    the loss network's calibration."""

    contents: ImageBank
    styles: ImageBank
    split: dict[str, Any]  # content_train, style_train (counts); content_held_out, style_held_out (names)
    encoder_state: dict[str, torch.Tensor]  # torchvision VGG-16 features.N.* up to conv5_1
    loss_channel_means: list[torch.Tensor] | None  # see StyleTrainer.loss_channel_means


class StyleTrainer(TrainingRun):
    """The core's style plug-in: the transformer and decoder (``model``, a ModuleDict of the two) train on
    content/style crops through the frozen encoder. ``data`` replaces the data root (and the encoder's
    backbone cache) with ready-made data (``StyleData``)."""

    CHECKPOINT_NAME = "checkpoint.pt"  # one per run, replaced at every save

    def __init__(self, options: StyleOptions, data_root_path: Path | None = None, log: Callable[[str], None] = print,
                 *, data: StyleData | None = None):
        super().__init__(options, device=options.device, threads=options.threads,
                         checkpoint_every_seconds=options.checkpoint_every_seconds, log=log)
        self.use_bf16 = options.amp == "bf16" or (options.amp == "auto" and self.device.type == "cuda")
        if data is None:
            root = data_root(data_root_path)
            recipe = options.data
            contents, held_contents = split_holdout(list_images(root, recipe.content), recipe.holdout_every)
            styles, held_styles = split_holdout(list_images(root, recipe.style), recipe.holdout_every)
            self.split = {
                "content_train": len(contents),
                "style_train": len(styles),
                "content_held_out": held_contents,
                "style_held_out": held_styles,
            }
            self.contents = load_bank(root, contents, recipe.resize_short, log)
            self.styles = load_bank(root, styles, recipe.resize_short, log)
            self.network = build_sanet(options.encoder)
        else:
            self.split, self.contents, self.styles = data.split, data.contents, data.styles
            if options.encoder != "vgg16":
                raise RestoreError(f"ready-made style data holds a VGG-16 encoder, not {options.encoder!r}")
            self.network = build_sanet(options.encoder, encoder_weights=False)
            load_official(self.network.encoder, data.encoder_state)
        if options.train.init_from:
            self._init_from(REPO_ROOT / options.train.init_from)
        self.network.to(self.device)
        trained = nn.ModuleDict({"transformer": self.network.transformer, "decoder": self.network.decoder}).train()
        self.attach(trained, torch.optim.Adam(trained.parameters(), lr=options.train.lr))
        # Calibrated on first use (or restored by ``resume``, or given with ``data``): see ``loss_channel_means``.
        self._loss_channel_means: list[torch.Tensor] | None = None
        if data is not None and data.loss_channel_means is not None and options.train.normalised_loss_features:
            self._loss_channel_means = [mean.to(self.device) for mean in data.loss_channel_means]
        options.run_dir.mkdir(parents=True, exist_ok=True)
        (options.run_dir / "split.json").write_text(json.dumps(self.split, indent=1) + "\n")

    def _init_from(self, path: Path) -> None:
        from restore.style.models import card_path, read_style_parts

        for part, state in read_style_parts(path).items():
            load_official(getattr(self.network, part), state)
        # The lineage goes into checkpoints and the card: the file at ``path`` may later be replaced by this run.
        card = json.loads(card_path(path).read_text()) if card_path(path).is_file() else {}
        self.started_from = {
            "model": str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path),
            "sha256": sha256_file(path),
            "iterations": card.get("iterations"),
            "core_hours": card.get("core_hours"),
            # Totals over the whole lineage: a card that started from an earlier model already holds them.
            "lineage_iterations": card.get("total_iterations", card.get("iterations") or 0),
            "lineage_core_hours": card.get("total_core_hours", card.get("core_hours") or 0.0),
        }
        self.log(f"transformer and decoder initialised from {path}")

    @property
    def checkpoint_path(self) -> Path:
        return self.options.run_dir / self.CHECKPOINT_NAME

    def learning_rate(self, iteration: int) -> float:
        train = self.options.train
        return train.lr / (1.0 + train.lr_decay * iteration)

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The content and style crops of ``iteration`` on the device. Shape: -> (B, 3, S, S) x 2, in [0, 1]."""
        data = self.options.data
        rng = np.random.default_rng([self.options.train.seed, iteration])
        content = batch_crops(self.contents, data.batch_size, data.crop, rng)
        style = batch_crops(self.styles, data.batch_size, data.crop, rng)
        # Made floats on the device: the same values as on the CPU, a quarter of the bytes in transit.
        return content.to(self.device).float().div_(255.0), style.to(self.device).float().div_(255.0)

    @property
    def loss_channel_means(self) -> list[torch.Tensor] | None:
        """Per-channel mean activation of each tap over calibration images, or None for raw-feature losses.

        The calibration set is fixed (the centre squares of evenly spaced training contents and styles), so
        it is the same on every machine; a resumed run takes the checkpoint's values.
        """
        if self._loss_channel_means is None and self.options.train.normalised_loss_features:
            self._loss_channel_means = calibrate_channel_means(self.network, [self.contents, self.styles])
            medians = ", ".join(f"{float(mean.median()):.2f}" for mean in self._loss_channel_means)
            self.log(f"loss features normalised per channel (median channel means relu1_1..relu5_1: {medians})")
        return self._loss_channel_means

    def loss_terms(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, torch.Tensor]:
        """The paper's four losses of one batch (with autograd). Shape: (B, 3, S, S), (B, 3, S, S) in [0, 1].

        Terms whose recipe weight is 0 are not computed (nor the images only they need): a reconstruction-only
        recipe (content and style weights 0) costs about 40% of a full step.
        """
        network = self.network
        weights = self.options.train.weights
        means = self.loss_channel_means
        in_loss_space = (lambda taps: losses.normalise_taps(taps, means)) if means else (lambda taps: taps)
        with torch.no_grad():
            content_taps = network.encode(content)
            style_taps = network.encode(style)
        content_targets, style_targets = in_loss_space(content_taps), in_loss_space(style_taps)
        terms: dict[str, torch.Tensor] = {}
        if weights.content or weights.style:
            stylised = network.decode(network.transform(content_taps, style_taps))
            # The encoder is frozen, but gradients must flow through it to the decoded images.
            stylised_taps = in_loss_space(network.encode(stylised))
            if weights.content:
                terms["content"] = losses.content_loss(stylised_taps, content_targets)
            if weights.style:
                terms["style"] = losses.style_loss(stylised_taps, style_targets)
        if weights.identity1 or weights.identity2:
            content_identity = network.decode(network.transform(content_taps, content_taps))
            style_identity = network.decode(network.transform(style_taps, style_taps))
            if weights.identity1:
                terms["identity1"] = (losses.identity_pixel_loss(content_identity, content)
                                      + losses.identity_pixel_loss(style_identity, style))
            if weights.identity2:
                terms["identity2"] = (
                    losses.identity_feature_loss(in_loss_space(network.encode(content_identity)), content_targets)
                    + losses.identity_feature_loss(in_loss_space(network.encode(style_identity)), style_targets))
        return terms

    def step(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
        """One optimiser step; advances the iteration. Shape: (B, 3, S, S), (B, 3, S, S) in [0, 1] -> loss values."""
        return {name: float(value) for name, value in self._optimise_batch(content, style).items()}

    def train_step(self) -> dict[str, torch.Tensor]:
        # Tensors: the core reads them on logging steps only, so a GPU is not made to wait for every step's losses.
        return self._optimise_batch(*self.batch(self.iteration))

    def _optimise_batch(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, torch.Tensor]:
        weights = self.options.train.weights
        _ = self.loss_channel_means  # calibrated (once) outside autocast, in float32
        with self._autocast():
            terms = self.loss_terms(content, style)
        total = sum(getattr(weights, name) * value for name, value in terms.items())
        self.optimise(total)
        return {"total": total.detach(), **{name: value.detach() for name, value in terms.items()}}

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.use_bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def describe(self) -> str:
        amp = ", bf16 autocast" if self.use_bf16 else ""
        return f"SANet ({self.options.encoder}), crop {self.options.data.crop}{amp}"

    def after_step(self) -> None:
        if self.options.snapshot_every and self.iteration % self.options.snapshot_every == 0:
            self.save_snapshot()

    @property
    def exported(self) -> nn.ModuleDict:
        """The weights a snapshot or an export takes: the moving average when the recipe keeps one."""
        return self.ema.module if self.ema is not None else self.model

    def save_snapshot(self) -> Path:
        """The float16 model of this iteration under ``snapshots/``, with its iteration and core-hours."""
        from restore.style.models import card_path, save_style_tensors

        path = self.options.run_dir / "snapshots" / f"iter_{self.iteration:06d}.safetensors"
        save_style_tensors(self.exported.state_dict(), path)
        iterations, core_hours = _lineage_totals(self.iteration, self.cpu_seconds, self.started_from)
        record = {
            "run": self.options.name,
            "iteration": self.iteration,
            "core_hours": round(self.cpu_seconds / 3600, 4),
            "lineage_iterations": iterations,
            "lineage_core_hours": round(core_hours, 4),
            "weights": "moving average" if self.ema is not None else "raw",
            "sha256": sha256_file(path),
        }
        card_path(path).write_text(json.dumps(record, indent=1) + "\n")
        return path

    def checkpoint_extras(self) -> dict[str, Any]:
        return {
            "options": dataclasses.asdict(self.options),
            "loss_channel_means": self.loss_channel_means,
        }

    def resume_extras(self, state: dict[str, Any]) -> None:
        if self.options.train.normalised_loss_features:  # a recipe that turned it off must not pick them up
            means = state.get("loss_channel_means")
            self._loss_channel_means = None if means is None else [mean.to(self.device) for mean in means]


CALIBRATION_IMAGES_PER_BANK = 100


@torch.no_grad()
def calibrate_channel_means(network, banks: list, per_bank: int = CALIBRATION_IMAGES_PER_BANK) -> list[torch.Tensor]:
    """Mean activation of every channel of relu1_1 .. relu5_1 over the centre squares of ``per_bank`` evenly
    spaced images of each bank (Gatys et al.'s normalisation statistics). Shape: -> 5 x (C,)."""
    sums: list[torch.Tensor] | None = None
    count = 0
    device = next(network.parameters()).device
    for bank in banks:
        for item in np.linspace(0, len(bank) - 1, min(per_bank, len(bank))).round().astype(int):
            taps = network.encode(image_tensor(bank.centre_square(int(item))).to(device))
            means = losses.channel_means(taps)
            sums = means if sums is None else [total + mean for total, mean in zip(sums, means)]
            count += 1
    # A channel that never fires would divide by zero; such a channel carries no loss either way.
    return [(total / count).clamp_min(1e-3) for total in sums]


def _lineage_totals(iteration: int, cpu_seconds: float, started: dict | None) -> tuple[int, float]:
    """Iterations and core-hours over the whole lineage: this run's plus those behind the model it started from."""
    started = started or {}
    return (iteration + (started.get("lineage_iterations") or 0),
            cpu_seconds / 3600 + (started.get("lineage_core_hours") or 0.0))


def _lineage(state: dict) -> dict:
    """Card fields for a run that started from an earlier model: where from, and totals over the lineage."""
    started = json.loads(state.get("started_from") or "null")
    if not started:
        return {}
    iterations, core_hours = _lineage_totals(state["iteration"], state.get("cpu_seconds", 0.0), started)
    return {"started_from": started, "total_iterations": iterations, "total_core_hours": round(core_hours, 3)}


def _window_means(records: list[dict], keys: tuple[str, ...], window: int) -> dict[str, float]:
    # A recipe with a zero loss weight does not compute (nor log) that term.
    return {key: round(float(np.mean([r[key] for r in records[:window]])), 4)
            for key in keys if records and key in records[0]}


def plot_style_losses(records: list[dict], path: Path, title: str, window: int = 10) -> Path:
    """Content and style losses (moving mean over ``window`` log records) against training iterations."""
    from restore.figures import pyplot, save_figure

    plt = pyplot()
    iterations = np.array([r["iteration"] for r in records])
    figure, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=120)
    for axis, key, weight in ((axes[0], "content", 1), (axes[1], "style", 3)):
        values = np.array([r.get(key, np.nan) for r in records], dtype=np.float64)
        kernel = np.ones(min(window, len(values))) / min(window, len(values))
        smooth = np.convolve(values, kernel, mode="valid")
        axis.plot(iterations, values, color="0.8", linewidth=0.8, label="logged")
        axis.plot(iterations[len(iterations) - len(smooth):], smooth, label=f"mean of {len(kernel)}")
        axis.set_xlabel("iteration")
        axis.set_ylabel(f"{key} loss (weight {weight})")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(title, fontsize=9)
    return save_figure(figure, path)


def export_run(
    options: StyleOptions,
    output: str | os.PathLike,
    recipe: str | None = None,
    data_root_path: Path | None = None,
    evaluate: bool = True,
    pairs: int | None = None,
    curves_dir: Path | None = REPO_ROOT / "docs" / "curves",
    log: Callable[[str], None] = print,
    returned: str | os.PathLike | None = None,
    snapshot: int | None = None,
) -> Path:
    """Export the run's checkpoint to a float16 style model with its card (training record included).

    ``snapshot``: export the run's snapshot of that iteration instead of its checkpoint (a run that trained on
    past its best point); the card describes the run up to that iteration. ``returned``: instead of the run's
    checkpoint, a model that scripts/gpu_campaign.sh brought back from a lent GPU (its card beside it,
    ``restore.style.campaign``); its card is kept, and its held-out lists must be the recipe's. With
    ``evaluate`` the card also records the paper's content and style losses on the held-out pairs
    (``restore.style.evaluate``; ``pairs`` of them, default all) for the new model and for the model it replaces
    at ``output``, if any.
    """
    from restore.style.evaluate import held_out_losses, held_out_names, held_out_pairs
    from restore.style.models import card_path, load_style_model, write_style_card, write_style_model

    output = Path(output)
    if returned is not None and snapshot is not None:
        raise RestoreError("export either a run's snapshot or a model returned from a GPU, not both")
    if returned is None:
        card, weights, records = run_card(options, recipe, snapshot)
    else:
        card, weights = _returned_card(Path(returned))
        records = []
    if evaluate:
        root = data_root(data_root_path)
        contents, styles = held_out_names(options.data.content, options.data.style, options.data.holdout_every, root)
        if returned is not None and card["held_out"] != {"content": contents, "style": styles}:
            raise RestoreError(f"{returned}: its run held out other images than this recipe's split (another "
                               "recipe's data folders): held-out losses would be measured on its training images")
        pairs = held_out_pairs(contents, styles, pairs)
        if output.is_file():
            previous = json.loads(card_path(output).read_text()) if card_path(output).is_file() else {}
            losses_before = previous.get("held_out_losses")
            if not losses_before:
                log(f"measuring the model being replaced ({output}) on {len(pairs)} held-out pairs")
                losses_before = held_out_losses(load_style_model(output), root, pairs)
            card["replaces"] = {"iterations": previous.get("iterations"), "sha256": previous.get("sha256"),
                                "held_out_losses": losses_before}
    path = write_style_model(weights, output, card)
    if evaluate:
        log(f"measuring {path} on {len(pairs)} held-out pairs")
        card = json.loads(card_path(path).read_text())
        card["held_out_losses"] = held_out_losses(load_style_model(path), root, pairs)
        write_style_card(path, card)
    if curves_dir is not None and records:
        curve = plot_style_losses(records, Path(curves_dir) / f"{path.stem}.png",
                                  f"{options.name}: training losses ({card['iterations']} iterations)")
        log(f"wrote {curve}")
    return path


def run_card(options: StyleOptions, recipe: str | None,
             snapshot: int | None = None) -> tuple[dict, dict[str, torch.Tensor], list[dict]]:
    """The card of the run's checkpoint (as an export writes it, less the file's own entries), the weights it
    exports (the moving average when the run keeps one) and the run's log records.

    With ``snapshot``, the weights are the run's snapshot of that iteration and the card and records stop there;
    what never changes within a run (options, split, lineage start, hardware) still comes from the checkpoint.
    """
    run_dir = options.run_dir
    checkpoint = run_dir / StyleTrainer.CHECKPOINT_NAME
    if not checkpoint.is_file():
        raise RestoreError(f"{run_dir}: no checkpoint to export; train first")
    state = read_checkpoint_file(checkpoint)
    records = read_log(run_dir)
    if snapshot is not None:
        records = [record for record in records if record["iteration"] <= snapshot]
        state, snapshot_weights = _snapshot_state(state, run_dir, snapshot, records)
    split = json.loads((run_dir / "split.json").read_text())
    loss_keys = ("total", "content", "style", "identity1", "identity2")
    card = {
        "name": options.name,
        "task": "style transfer (SANet, Park & Lee 2019)",
        "encoder": "torchvision VGG-16 to relu5_1, ImageNet weights (restore weights fetch), frozen; not in this file",
        "contents": "transformer.* (Transform, 512 channels) and decoder.* (VGG-16 mirror)",
        "recipe": recipe or f"options/{options.name}.yml",
        "options": dataclasses.asdict(options),
        "iterations": state["iteration"],
        "wall_seconds": round(state["wall_seconds"], 1),
        "core_hours": round(state.get("cpu_seconds", 0.0) / 3600, 3),
        "core_hours_counted_from_iteration": state.get("cpu_counted_from", 0),
        # Recorded by the trainer; older checkpoints fall back to this machine's description.
        "hardware": state.get("hardware") or describe_hardware(),
        **_lineage(state),
        "weights_exported": (f"moving average (decay {state['options']['train']['ema']:g})"
                             if state.get("ema") is not None else "raw"),
        "training_losses_first_10_logs": _window_means(records, loss_keys, 10),
        "training_losses_last_10_logs": _window_means(records[-10:], loss_keys, 10),
        "loss_log": [{"iteration": r["iteration"], "total": round(r["total"], 3)} for r in records],
        "held_out": {"content": split["content_held_out"], "style": split["style_held_out"]},
        "training_images": {"content": split["content_train"], "style": split["style_train"]},
    }
    if snapshot is not None:
        return card, snapshot_weights, records
    weights = state.get("ema") or state["model"]  # a run that keeps a weight average exports the average
    return card, weights, records


def _snapshot_state(state: dict, run_dir: Path, iteration: int,
                    records: list[dict]) -> tuple[dict, dict[str, torch.Tensor]]:
    """The checkpoint's state as it stood at a kept snapshot (iteration, times), and the snapshot's weights.

    The snapshot's sha256 must match its record. Wall time is the last of ``records`` (the log up to the
    snapshot).
    """
    from restore.style.models import card_path

    path = run_dir / "snapshots" / f"iter_{iteration:06d}.safetensors"
    if not path.is_file():
        kept = sorted(int(p.stem.removeprefix("iter_")) for p in (run_dir / "snapshots").glob("iter_*.safetensors"))
        raise RestoreError(f"{run_dir}: no snapshot of iteration {iteration} (kept: {kept or 'none'})")
    record = json.loads(card_path(path).read_text())
    if iteration > state["iteration"]:
        raise RestoreError(f"{path}: iteration {iteration} is past the checkpoint's {state['iteration']}")
    weights = _style_weights(path)  # the sha256 in the record is checked on reading
    at_snapshot = {
        **state,
        "iteration": iteration,
        "cpu_seconds": record["core_hours"] * 3600,  # the snapshot counts the run's core-hours as the checkpoint does
        "wall_seconds": _logged_wall_seconds(records[-1]) if records else 0.0,
        "ema": None if record["weights"] == "raw" else state.get("ema"),
    }
    return at_snapshot, weights


def _logged_wall_seconds(record: dict) -> float:
    # The one training core logs wall hours; style logs before it (commit 8c0e36c) logged seconds.
    return record["hours"] * 3600 if "hours" in record else record["wall_seconds"]


def _returned_card(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """The card and weights of a model scripts/gpu_campaign.sh returned (sha256 checked against the card)."""
    from restore.style.models import card_path

    if not card_path(path).is_file():
        raise RestoreError(f"{path}: no card {card_path(path).name} beside it (scripts/gpu_campaign.sh writes one)")
    card = json.loads(card_path(path).read_text())
    if "campaign" not in card:
        raise RestoreError(f"{card_path(path)} is not a GPU campaign's card (no campaign entry)")
    return ({key: value for key, value in card.items() if key not in ("file", "dtype", "bytes", "sha256")},
            _style_weights(path))


def _style_weights(path: Path) -> dict[str, torch.Tensor]:
    """A style model file's ``transformer.*`` and ``decoder.*`` tensors under their full names (sha256 checked
    against the card beside it)."""
    from restore.style.models import read_style_parts

    return {f"{part}.{key}": value
            for part, tensors in read_style_parts(path).items() for key, value in tensors.items()}
