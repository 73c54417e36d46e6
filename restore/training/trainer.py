"""SR training, the core's SR plug-in: L1, Adam, cosine/step schedule, gradient clipping, Set5 validation.

Why our own loop and not BasicSR's (docs/training.md has the long version): BasicSR saves no RNG state
(no exact resume), validates with its own metric code instead of our MATLAB-exact pipeline, and its
paired-image datasets expect LR folders on disk. The loop, EMA, checkpoints and exact resume are the one
training core's (``restore.training.core``, shared with style training); the batch of iteration t is drawn from
``numpy.random.default_rng([seed, 0, t])`` and the learning rate is a pure function of t.

Under torchrun (DistributedDataParallel, docs/scaling.md) the recipe's batch is the global batch: every rank
draws the same batch from the same generator and trains on its own slice of it, so N ranks take the steps one
process takes (the ``0`` in the seed is where a rank number once went; it stays so that older runs resume
onto the same batches). Rank 0 alone validates, keeps the EMA, logs and writes checkpoints; a checkpoint
holds nothing rank-specific, so a run resumes on any number of ranks.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restore.archs import spec
from restore.errors import RestoreError
from restore.training import schedule
from restore.training.core import TrainingRun
from restore.training.data import PatchCache, PatchSampler
from restore.training.options import Options, resolve_data_folder, resolve_repo_path, validate


def init_from_checkpoint(model: nn.Module, path: str | Path, arch: str, log: Callable[[str], None] = print) -> None:
    """Start from another run's weights (e.g. the x2 body for an x4 model).

    Every key must match in name and shape except the upsampler's, which is left freshly initialised
    when its shape differs (another scale). Anything else mismatching is an error, never skipped.
    """
    state = load_weights_file(path)
    own = model.state_dict()
    prefixes = spec(arch).upsampler_prefixes
    problems = [k for k in own if k not in state and not k.startswith(prefixes)]
    problems += [k for k in state if k not in own]
    problems += [k for k in own if k in state and state[k].shape != own[k].shape and not k.startswith(prefixes)]
    if problems:
        raise RestoreError(f"init_from {path} does not fit this network: {', '.join(problems[:10])}")
    taken = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    own.update({k: v.to(own[k].dtype) for k, v in taken.items()})
    model.load_state_dict(own, strict=True)
    log(f"initialised {len(taken)}/{len(own)} tensors from {path} (upsampler kept fresh where shapes differ)")


def widen_from_checkpoint(model: nn.Module, path: str | Path, options: Options,
                          log: Callable[[str], None] = print) -> None:
    """Start a wider network from a narrower one of the same arch, layout and scale (``train.init_widen``)."""
    from restore.archs import build_model
    from restore.training.widen import widen_from

    narrow = load_weights_file(path)
    read_layout = spec(options.arch).read_layout
    try:
        layout = read_layout(narrow) if read_layout else None
    except (KeyError, ValueError, IndexError) as error:
        raise RestoreError(f"init_widen: {path} is not a {options.arch} network ({error})") from error
    if layout is None:
        raise RestoreError(f"init_widen: {options.arch} has no layout reader to size the narrow network")
    widen_from(model, narrow, lambda: build_model(options.arch, options.scale, **{**options.network, **layout}), log)


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Weights from a training checkpoint (EMA preferred), a safetensors file or a raw state dict."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        return state.get("ema") or state["model"]
    return state


class Trainer(TrainingRun):
    def __init__(self, options: Options, *, data_root: Path | None = None, cache_root: Path | None = None,
                 log: Callable[[str], None] = print):
        validate(options, data_root)
        runtime, checkpoint = options.runtime, options.checkpoint
        super().__init__(options, device=runtime.device, threads=runtime.threads,
                         checkpoint_every_seconds=checkpoint.every_seconds,
                         checkpoint_every_iterations=checkpoint.every_iterations, keep=checkpoint.keep, log=log)
        if options.data.batch_size < self.world.size:
            raise RestoreError(f"data.batch_size {options.data.batch_size} is the global batch and cannot be "
                               f"shared between {self.world.size} ranks; use at least one sample per rank")
        self.data_root, self.cache_root = data_root, cache_root
        self.use_bf16 = runtime.amp == "bf16" or (runtime.amp == "auto" and self.device.type == "cuda")
        self.memory_format = torch.channels_last if runtime.channels_last else torch.contiguous_format

        from restore.archs import build_model

        model = build_model(options.arch, options.scale, **options.network)  # after the core seeded torch
        if options.train.init_from:
            from restore.training.export import zoo_parent

            init_path = resolve_repo_path(options.train.init_from)
            self.started_from = zoo_parent(init_path)
            if options.train.init_widen:
                widen_from_checkpoint(model, init_path, options, self.log)
            else:
                init_from_checkpoint(model, init_path, options.arch, self.log)
        model.to(self.device, memory_format=self.memory_format)
        params = [p for p in model.parameters() if p.requires_grad]
        train = options.train
        self.attach(model, torch.optim.Adam(params, lr=train.lr, betas=train.betas, weight_decay=train.weight_decay))
        self.forward_model: nn.Module = model
        if self.world.launched:
            device_ids = [self.device] if self.device.type == "cuda" else None
            self.forward_model = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        if runtime.compile:
            self.forward_model = torch.compile(self.forward_model)
        self._sampler: PatchSampler | None = None
        self._val: list[tuple[str, torch.Tensor, torch.Tensor]] | None = None

    # ----------------------------------------------------------------------------------------- data
    @property
    def sampler(self) -> PatchSampler:
        if self._sampler is None:
            folders = [resolve_data_folder(f, self.data_root) for f in self.options.data.train]
            cache = PatchCache.build(folders, self.options.scale, cache_root=self.cache_root, log=self.log)
            data = self.options.data
            self._sampler = PatchSampler(cache, data.patch_size, data.batch_size, data.sampling)
        return self._sampler

    @property
    def batch_part(self) -> range:
        """This rank's samples of the global batch: contiguous slices, sizes differing by at most one."""
        total, size, rank = self.options.data.batch_size, self.world.size, self.world.rank
        return range(rank * total // size, (rank + 1) * total // size)

    def prepare(self) -> None:
        """The patch cache is built by the first rank of each node while the others wait, then read by them:
        ranks building one cache file at once would decode the data N times over."""
        for first in (True, False):
            if (self.world.local_rank == 0) == first:
                _ = self.sampler
            self.world.barrier()

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's part of the global batch of ``iteration`` (all of it in one process)."""
        rng = np.random.default_rng([self.options.train.seed, 0, iteration])
        lr, hr = self.sampler.sample(rng, self.batch_part if self.world.launched else None)
        return (
            lr.to(self.device, memory_format=self.memory_format),
            hr.to(self.device, memory_format=self.memory_format),
        )

    def checkpoint_extras(self) -> dict:
        return {
            "options_file": str(self.options.source) if self.options.source else "",
            "arch": self.options.arch,
            "scale": self.options.scale,
            "network": json.dumps(self.options.network),
        }

    # -------------------------------------------------------------------------------- validation
    def _validation_set(self) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        if self._val is None:
            from restore.datasets import get_dataset
            from restore.io.image import read_image
            from restore.metrics.imresize import bicubic_degrade, modcrop

            dataset = get_dataset(self.options.data.val, self.data_root)
            pairs = []
            for hr_path in dataset.hr_paths():
                hr = torch.from_numpy(read_image(hr_path)).permute(2, 0, 1)
                if hr.shape[0] == 1:
                    hr = hr.repeat(3, 1, 1)
                lr_path = dataset.lr_path(hr_path.stem, self.options.scale)
                if lr_path is not None and lr_path.exists():
                    lr = torch.from_numpy(read_image(lr_path)).permute(2, 0, 1)
                    lr = lr.repeat(3, 1, 1) if lr.shape[0] == 1 else lr
                else:
                    lr = bicubic_degrade(hr, self.options.scale)
                pairs.append((hr_path.stem, lr[None], modcrop(hr, self.options.scale)[None]))
            self._val = pairs
        return self._val

    @torch.no_grad()
    def validate(self) -> float:
        from restore.metrics.psnr_ssim import psnr

        model = self.ema.module if self.ema else self.model
        model.eval()
        scores = []
        for _, lr, hr in self._validation_set():
            with self._autocast():
                sr = model(lr.to(self.device, torch.float32, memory_format=self.memory_format))
            sr = sr.float().round().clamp(0, 255).cpu()
            scores.append(float(psnr(sr, hr.float(), crop_border=self.options.scale, y_channel=True)[0]))
        self.model.train()
        return float(np.mean(scores))

    def _autocast(self):
        if self.use_bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ----------------------------------------------------------------------------------- the step
    def describe(self) -> str:
        return f"{self.options.arch} x{self.options.scale}, patch {self.options.data.patch_size}"

    def learning_rate(self, iteration: int) -> float:
        train = self.options.train
        return schedule.learning_rate(iteration, train.lr, train.iterations, train.schedule)

    def step(self, lr_value: float) -> torch.Tensor:
        """One optimiser step at ``lr_value`` on the batch of the current iteration; advances the iteration.
        Returns the loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr_value
        return self.train_step()["loss"]

    def train_step(self) -> dict[str, torch.Tensor]:
        lr, hr = self.batch(self.iteration)
        with self._autocast():
            sr = self.forward_model(lr)
        loss = F.l1_loss(sr.float(), hr)
        if self.world.launched:
            # DDP averages the ranks' gradients; weighting each rank's mean by its share of the global batch
            # makes that average the gradient of the global batch's mean, even for slices of unequal size
            # (the factor is exactly 1 when the slices are equal).
            loss = loss * (len(self.batch_part) * self.world.size / self.options.data.batch_size)
        self.optimise(loss, self.options.train.grad_clip)
        return {"loss": loss.detach()}

    def after_step(self) -> None:
        options = self.options
        if options.data.val and options.validation_every and (
            self.iteration % options.validation_every == 0 or self.iteration == options.train.iterations
        ):
            score = self.validate()
            record = {"iteration": self.iteration, "hours": self.wall_seconds / 3600,
                      "core_hours": self.cpu_seconds / 3600, f"{options.data.val}_psnr": score}
            self.history.append(record)
            self.append_log(record)
            self.log(f"iter {self.iteration:>7}  {options.data.val} x{options.scale} Y-PSNR {score:.3f} dB")
