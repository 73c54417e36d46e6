"""The training loop: L1, Adam, cosine/step schedule, EMA, gradient clipping, validation, exact resume.

Why our own loop and not BasicSR's (docs/training.md has the long version): BasicSR saves no RNG state
(no exact resume), validates with its own metric code instead of our MATLAB-exact pipeline, and its
paired-image datasets expect LR folders on disk. This loop keeps those three properties and stays
small enough to read in one sitting.

Determinism: the batch of iteration t is drawn from ``numpy.random.default_rng([seed, 0, t])``, and the
learning rate is a pure function of t, so a resumed run replays exactly what an uninterrupted run does.

Under torchrun (DistributedDataParallel, docs/scaling.md) the recipe's batch is the global batch: every rank
draws the same batch from the same generator and trains on its own slice of it, so N ranks take the steps one
process takes (the ``0`` in the seed is where a rank number once went; it stays so that older runs resume
onto the same batches). Rank 0 alone validates, keeps the EMA, logs and writes checkpoints; a checkpoint
holds nothing rank-specific, so a run resumes on any number of ranks.
"""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restore.archs import spec
from restore.distributed import World, world
from restore.errors import RestoreError
from restore.training.data import PatchCache, PatchSampler
from restore.training.ema import ModelEMA
from restore.training.hardware import describe_hardware
from restore.training.stopping import StopRequest
from restore.training.options import Options, resolve_data_folder, resolve_repo_path, validate
from restore.training.schedule import learning_rate

CHECKPOINT_PREFIX = "checkpoint_"


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


def _silent(message: str) -> None:
    """The log of the ranks other than 0: rank 0 speaks for the run."""


class Trainer:
    def __init__(self, options: Options, *, data_root: Path | None = None, cache_root: Path | None = None,
                 log: Callable[[str], None] = print):
        validate(options, data_root)
        self.world: World = world()
        if self.world.launched and not self.world.active:
            raise RestoreError("started by torchrun: train inside restore.distributed.session() "
                               "(`restore train` does), so that the ranks train together")
        if options.data.batch_size < self.world.size:
            raise RestoreError(f"data.batch_size {options.data.batch_size} is the global batch and cannot be "
                               f"shared between {self.world.size} ranks; use at least one sample per rank")
        self.options, self.data_root, self.cache_root = options, data_root, cache_root
        self.log = log if self.world.is_main else _silent
        runtime = options.runtime
        if runtime.threads:
            torch.set_num_threads(runtime.threads)
        device = self.world.device(runtime.device)
        if device == "auto":
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            self.device = torch.device(device)
        self.use_bf16 = runtime.amp == "bf16" or (runtime.amp == "auto" and self.device.type == "cuda")
        self.memory_format = torch.channels_last if runtime.channels_last else torch.contiguous_format

        from restore.archs import build_model

        torch.manual_seed(options.train.seed)
        self.model = build_model(options.arch, options.scale, **options.network)
        if options.train.init_from:
            init_from_checkpoint(self.model, resolve_repo_path(options.train.init_from), options.arch, self.log)
        self.model.to(self.device, memory_format=self.memory_format)
        self.ema = ModelEMA(self.model, options.train.ema) if options.train.ema > 0 and self.world.is_main else None
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(
            params, lr=options.train.lr, betas=options.train.betas, weight_decay=options.train.weight_decay
        )
        self.forward_model: nn.Module = self.model
        if self.world.launched:
            device_ids = [self.device] if self.device.type == "cuda" else None
            self.forward_model = nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        if runtime.compile:
            self.forward_model = torch.compile(self.forward_model)
        self.iteration = 0
        self.elapsed = 0.0  # wall seconds spent in training steps, summed over resumes
        # Process CPU seconds (all threads) in training steps: unlike wall time, not inflated when the
        # machine is shared or the process is paused, so runs compare fairly in core-hours.
        self.cpu_seconds = 0.0
        self.history: list[dict] = []
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

    def _build_sampler_in_turn(self) -> None:
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

    # ------------------------------------------------------------------------------- checkpoints
    def checkpoint_state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema else None,
            "optimizer": self.optimizer.state_dict(),
            "iteration": self.iteration,
            "elapsed_seconds": self.elapsed,
            "cpu_seconds": self.cpu_seconds,
            "history": json.dumps(self.history),
            "torch_rng": torch.get_rng_state(),
            "options_file": str(self.options.source) if self.options.source else "",
            "arch": self.options.arch,
            "scale": self.options.scale,
            "network": json.dumps(self.options.network),
            "hardware": describe_hardware(self.device),
            "world_size": self.world.size,
        }

    def save_checkpoint(self) -> Path:
        run_dir = self.options.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / f"{CHECKPOINT_PREFIX}{self.iteration:08d}.pt"
        tmp = path.with_suffix(".tmp")
        torch.save(self.checkpoint_state(), tmp)
        tmp.replace(path)
        for old in sorted(run_dir.glob(f"{CHECKPOINT_PREFIX}*.pt"))[: -max(1, self.options.checkpoint.keep)]:
            old.unlink()
        return path

    def latest_checkpoint(self) -> Path | None:
        """The run's newest checkpoint, as rank 0 sees it (every rank must resume from the same one)."""
        found = sorted(self.options.run_dir.glob(f"{CHECKPOINT_PREFIX}*.pt")) if self.world.is_main else []
        return self.world.broadcast(found[-1] if found else None)

    def resume(self, path: str | Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"], strict=True)
        if self.ema:
            if state.get("ema") is None:
                raise RestoreError(f"{path} has no EMA weights but this run uses EMA")
            self.ema.module.load_state_dict(state["ema"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])
        self.elapsed = float(state["elapsed_seconds"])
        self.cpu_seconds = float(state.get("cpu_seconds", 0.0))
        self.history = json.loads(state["history"])
        torch.set_rng_state(state["torch_rng"])
        previous = int(state.get("world_size", 1))
        change = f", on {self.world.size} rank(s) instead of {previous}" if previous != self.world.size else ""
        self.log(f"resumed from {path} at iteration {self.iteration} ({self.elapsed / 3600:.2f} h trained){change}")

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

    # ----------------------------------------------------------------------------------- the loop
    def step(self, lr_value: float) -> torch.Tensor:
        """One optimiser step on the batch of the current iteration; advances the iteration. Returns the loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr_value
        lr, hr = self.batch(self.iteration)
        with self._autocast():
            sr = self.forward_model(lr)
        loss = F.l1_loss(sr.float(), hr)
        if self.world.launched:
            # DDP averages the ranks' gradients; weighting each rank's mean by its share of the global batch
            # makes that average the gradient of the global batch's mean, even for slices of unequal size
            # (the factor is exactly 1 when the slices are equal).
            loss = loss * (len(self.batch_part) * self.world.size / self.options.data.batch_size)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.options.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.options.train.grad_clip)
        self.optimizer.step()
        if self.ema:
            self.ema.update(self.model, self.iteration)
        self.iteration += 1
        return loss.detach()

    def train(self, iterations: int | None = None, *, deadline: float | None = None) -> dict:
        """Train until ``iterations`` (default: the recipe's total), checkpointing on the way.

        ``deadline`` (a ``time.monotonic()`` value) also ends the call after the step that passes it: how a
        wall-clock-bound run (scripts/gpu_campaign.sh) trains in slices.
        """
        options = self.options
        total = options.train.iterations
        stop = min(total, iterations if iterations is not None else total)
        is_main = self.world.is_main
        self.model.train()
        self._build_sampler_in_turn()  # build the cache before the clock starts
        last_save = time.monotonic()
        window_start, window_iters = time.monotonic(), 0
        if is_main:
            self.log(f"training {options.name}: {options.arch} x{options.scale}, iterations "
                     f"{self.iteration}->{stop} of {total}, batch {options.data.batch_size}, "
                     f"patch {options.data.patch_size}, device {self.device}"
                     + (f", {self.world.size} ranks" if self.world.launched else ""))
        with StopRequest() as stopping:
            while self.iteration < stop:
                wants_to_stop = stopping.requested or (deadline is not None and time.monotonic() >= deadline)
                if self._any_rank(wants_to_stop):
                    break
                step_start, step_cpu_start = time.monotonic(), time.process_time()
                lr_value = learning_rate(self.iteration, options.train.lr, total, options.train.schedule)
                loss = self.step(lr_value)
                self.elapsed += time.monotonic() - step_start
                self.cpu_seconds += time.process_time() - step_cpu_start
                window_iters += 1

                logging_now = self.iteration % options.log_every == 0 or self.iteration == stop
                loss_value = self._global_loss(loss) if logging_now else 0.0  # every rank takes part
                if is_main and logging_now:
                    seconds = time.monotonic() - window_start
                    rate = window_iters / max(seconds, 1e-9)
                    eta = (total - self.iteration) / max(rate, 1e-9)
                    record = {"iteration": self.iteration, "loss": loss_value, "lr": lr_value,
                              "iters_per_s": rate, "samples_per_s": rate * options.data.batch_size,
                              "hours": self.elapsed / 3600, "core_hours": self.cpu_seconds / 3600}
                    self._append_log(record)
                    self.log(f"iter {self.iteration:>7}/{total}  loss {loss_value:8.4f}  lr {lr_value:.2e}  "
                             f"{rate:5.2f} it/s  {rate * options.data.batch_size:6.1f} samples/s  "
                             f"ETA {eta / 3600:5.2f} h")
                    window_start, window_iters = time.monotonic(), 0
                if is_main and options.data.val and options.validation_every and (
                    self.iteration % options.validation_every == 0 or self.iteration == total
                ):
                    score = self.validate()
                    record = {"iteration": self.iteration, "hours": self.elapsed / 3600,
                              "core_hours": self.cpu_seconds / 3600,
                              f"{options.data.val}_psnr": score}
                    self.history.append(record)
                    self._append_log(record)
                    self.log(f"iter {self.iteration:>7}  {options.data.val} x{options.scale} Y-PSNR {score:.3f} dB")
                    window_start, window_iters = time.monotonic(), 0  # keep validation time out of it/s
                due_time = time.monotonic() - last_save >= options.checkpoint.every_seconds
                due_iter = options.checkpoint.every_iterations and self.iteration % options.checkpoint.every_iterations == 0
                if is_main and (due_time or due_iter):
                    self.save_checkpoint()
                    last_save = time.monotonic()
        if is_main:
            path = self.save_checkpoint()
            self.log(f"saved {path}" + (" (stop requested)" if stopping.requested else ""))
        return {"iteration": self.iteration, "hours": self.elapsed / 3600, "core_hours": self.cpu_seconds / 3600,
                "history": self.history, "stop_requested": stopping.requested}

    def _any_rank(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any rank: a stop (signal, deadline) seen by one rank stops all of them at
        the same step, or the others would wait forever for its gradients."""
        if not self.world.launched:
            return flag
        import torch.distributed as dist

        value = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def _global_loss(self, loss: torch.Tensor) -> float:
        """The loss of the whole global batch (each rank's part is weighted by its share of the batch)."""
        if not self.world.launched:
            return loss.item()
        import torch.distributed as dist

        value = loss.detach().float().reshape(1).cpu() / self.world.size
        dist.all_reduce(value)
        return value.item()

    def _append_log(self, record: dict) -> None:
        self.options.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.options.run_dir / "log.jsonl", "a") as handle:
            handle.write(json.dumps({**record, "world_size": self.world.size}) + "\n")
