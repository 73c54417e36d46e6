"""The one training core: what a run does whatever it trains (an SR network, a style model).

A task plugs in by subclassing :class:`TrainingRun` (``restore.training.trainer.Trainer`` for SR,
``restore.style.train.StyleTrainer`` for style). It builds its network and optimiser and hands them to
``attach``, and supplies ``learning_rate(iteration)``, ``train_step()`` (one step on the batch of the current
iteration, ending in ``optimise(loss)``), and where it needs them ``prepare`` (data caches, before the clock
starts), ``after_step`` (validation, snapshots), ``describe`` and ``checkpoint_extras`` / ``resume_extras``.

The core owns the rest, once for both: the device (the engine's policy: CUDA, then MPS, then the CPU), threads
and seed, the EMA of the weights, the loop with its stops (iteration, deadline, SIGTERM or Ctrl-C), wall and CPU
time of the training steps, ``log.jsonl``, atomic checkpoints, the latest one, exact resume and the ranks of a
torchrun launch (rank 0 alone logs, keeps the EMA and writes checkpoints).

Exact resume: the task draws the batch of iteration t from a generator seeded with t and computes the learning
rate from t; the checkpoint holds the weights, their EMA, the optimiser, torch's RNG state and the iteration,
so a resumed run replays what an uninterrupted one does. A resumed run drops the log lines after its checkpoint.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from restore.distributed import World, world
from restore.engine.precision import resolve_device
from restore.errors import RestoreError
from restore.training.ema import ModelEMA
from restore.training.hardware import describe_hardware
from restore.training.stopping import StopRequest

# checkpoint_00000761.pt (SR: one per save, the last few kept) or checkpoint.pt (style: one, replaced):
# sorted by name, the newest is last.
CHECKPOINT_GLOB = "checkpoint*.pt"


def read_checkpoint_file(path: str | Path) -> dict[str, Any]:
    """A checkpoint's entries under today's names, whichever version of the trainer wrote it."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "elapsed_seconds" in state:  # SR checkpoints written before the one core
        state["wall_seconds"] = state.pop("elapsed_seconds")
    return state


def _silent(message: str) -> None:
    """The log of the ranks other than 0: rank 0 speaks for the run."""


class TrainingRun:
    """A run of ``options`` (a recipe with ``name``, ``run_dir``, ``log_every``, ``data.batch_size`` and
    ``train.iterations``, ``train.seed``, ``train.ema``); see the module docstring for what a task supplies."""

    CHECKPOINT_NAME = "checkpoint_{iteration:08d}.pt"

    def __init__(self, options: Any, *, device: str, threads: int | None, checkpoint_every_seconds: float,
                 checkpoint_every_iterations: int = 0, keep: int = 1, log: Callable[[str], None] = print) -> None:
        self.world: World = world()
        if self.world.launched and not self.world.active:
            raise RestoreError("started by torchrun: train inside restore.distributed.session() "
                               "(`restore train` does), so that the ranks train together")
        self.options = options
        self.log = log if self.world.is_main else _silent
        if threads:
            torch.set_num_threads(threads)
        self.device = resolve_device(self.world.device(device))
        self.checkpoint_every_seconds = checkpoint_every_seconds
        self.checkpoint_every_iterations = checkpoint_every_iterations
        self.keep = max(1, keep)
        torch.manual_seed(options.train.seed)
        self.model: nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.ema: ModelEMA | None = None
        self.iteration = 0
        # Wall and process CPU seconds (all threads) of the training steps, summed over resumes. CPU time is not
        # inflated when the machine is shared or the process paused, so runs compare fairly in core-hours.
        self.wall_seconds = 0.0
        self.cpu_seconds = 0.0
        self.cpu_counted_from = 0  # the iteration CPU time is counted from (checkpoints once lacked it)
        self.history: list[dict] = []  # evaluations during training (SR: the validations)

    def attach(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """The module ``optimizer`` trains: the core keeps its EMA (rank 0), checkpoints and resumes both."""
        self.model, self.optimizer = model, optimizer
        decay = self.options.train.ema
        self.ema = ModelEMA(model, decay) if decay > 0 and self.world.is_main else None

    # ----------------------------------------------------------------------------------- the task's part
    def learning_rate(self, iteration: int) -> float:
        raise NotImplementedError

    def train_step(self) -> dict[str, torch.Tensor | float]:
        """One optimiser step on the batch of ``self.iteration`` (through ``optimise``); the loss terms to log."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Work before the clock starts (building data caches)."""

    def after_step(self) -> None:
        """On rank 0 after every step: evaluations and snapshots that are due."""

    def describe(self) -> str:
        """What is trained, for the first log line."""
        return type(self).__name__

    def checkpoint_extras(self) -> dict[str, Any]:
        """The task's own checkpoint entries."""
        return {}

    def resume_extras(self, state: dict[str, Any]) -> None:
        """Restore the task's own entries from a checkpoint."""

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        return read_checkpoint_file(path)

    # --------------------------------------------------------------------------------------- one step
    def optimise(self, loss: torch.Tensor, grad_clip: float = 0.0) -> None:
        """Backward, gradient-norm clipping (``grad_clip`` > 0), the optimiser's step, the EMA; next iteration."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), grad_clip)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model, self.iteration)
        self.iteration += 1

    # ----------------------------------------------------------------------------------------- the loop
    def train(self, iterations: int | None = None, *, deadline: float | None = None) -> dict:
        """Train until ``iterations`` (default: the recipe's total), checkpointing on the way and at the end.

        ``deadline`` (a ``time.monotonic()`` value) also ends the call after the step that passes it: how a
        wall-clock-bound run (scripts/gpu_campaign.sh, ``restore train-style --minutes``) trains in slices.
        """
        options, is_main = self.options, self.world.is_main
        total = options.train.iterations
        stop = min(total, iterations if iterations is not None else total)
        self.model.train()
        self.prepare()
        last_save = time.monotonic()
        window_iterations, window_seconds = 0, 0.0
        self.log(f"training {options.name}: {self.describe()}, iterations {self.iteration}->{stop} of {total}, "
                 f"batch {options.data.batch_size}, device {self.device}"
                 + (f", {self.world.size} ranks" if self.world.launched else ""))
        with StopRequest() as stopping:
            while self.iteration < stop:
                wants_to_stop = stopping.requested or (deadline is not None and time.monotonic() >= deadline)
                if self._any_rank(wants_to_stop):
                    break
                lr = self.learning_rate(self.iteration)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                step_start, step_cpu_start = time.monotonic(), time.process_time()
                losses = self.train_step()
                seconds = time.monotonic() - step_start
                self.wall_seconds += seconds
                self.cpu_seconds += time.process_time() - step_cpu_start
                window_iterations, window_seconds = window_iterations + 1, window_seconds + seconds
                if self.iteration % options.log_every == 0 or self.iteration in (1, stop):
                    values = {name: self._mean_over_ranks(value) for name, value in losses.items()}
                    if is_main:
                        self._log_step(values, lr, window_iterations / max(window_seconds, 1e-9))
                    window_iterations, window_seconds = 0, 0.0
                if is_main:
                    self.after_step()
                    since = time.monotonic() - last_save
                    every = self.checkpoint_every_iterations
                    if since >= self.checkpoint_every_seconds or (every and self.iteration % every == 0):
                        self.save_checkpoint()
                        last_save = time.monotonic()
        if is_main:
            path = self.save_checkpoint()
            self.log(f"saved {path}" + (" (stop requested)" if stopping.requested else ""))
        return {"iteration": self.iteration, "hours": self.wall_seconds / 3600, "core_hours": self.cpu_seconds / 3600,
                "history": self.history, "stop_requested": stopping.requested}

    def _log_step(self, values: dict[str, float], lr: float, rate: float) -> None:
        total, samples = self.options.train.iterations, rate * self.options.data.batch_size
        self.append_log({"iteration": self.iteration, **values, "lr": lr, "iters_per_s": rate,
                         "samples_per_s": samples, "hours": self.wall_seconds / 3600,
                         "core_hours": self.cpu_seconds / 3600})
        terms = "  ".join(f"{name} {value:8.4f}" for name, value in values.items())
        self.log(f"iter {self.iteration:>7}/{total}  {terms}  lr {lr:.2e}  {rate:5.2f} it/s  {samples:6.1f} "
                 f"samples/s  ETA {(total - self.iteration) / max(rate, 1e-9) / 3600:5.2f} h")

    def _any_rank(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any rank: a stop (signal, deadline) seen by one rank stops all of them at
        the same step, or the others would wait forever for its gradients."""
        if not self.world.launched:
            return flag
        import torch.distributed as dist

        value = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def _mean_over_ranks(self, value: torch.Tensor | float) -> float:
        """A loss of the whole global batch: each rank's part is weighted by its share by the task's step."""
        if not self.world.launched:
            return float(value)
        import torch.distributed as dist

        mean = torch.as_tensor(value).detach().float().reshape(1).cpu() / self.world.size
        dist.all_reduce(mean)
        return mean.item()

    # ------------------------------------------------------------------------------------ log.jsonl
    @property
    def log_path(self) -> Path:
        return self.options.run_dir / "log.jsonl"

    def append_log(self, record: dict) -> None:
        self.options.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as handle:
            handle.write(json.dumps({**record, "world_size": self.world.size}) + "\n")

    # ---------------------------------------------------------------------------------- checkpoints
    def checkpoint_state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "iteration": self.iteration,
            "wall_seconds": self.wall_seconds,
            "cpu_seconds": self.cpu_seconds,
            "cpu_counted_from": self.cpu_counted_from,
            "history": json.dumps(self.history),
            "torch_rng": torch.get_rng_state(),
            "hardware": describe_hardware(self.device),
            "world_size": self.world.size,
            **self.checkpoint_extras(),
        }

    def save_checkpoint(self) -> Path:
        """Write the checkpoint atomically (a ``.partial`` file renamed over), keeping the newest ``keep``."""
        run_dir = self.options.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / self.CHECKPOINT_NAME.format(iteration=self.iteration)
        partial = path.with_name(f"{path.name}.partial")
        torch.save(self.checkpoint_state(), partial)
        partial.replace(path)
        for old in sorted(run_dir.glob(CHECKPOINT_GLOB))[: -self.keep]:
            old.unlink()
        return path

    def latest_checkpoint(self) -> Path | None:
        """The run's newest checkpoint, as rank 0 sees it (every rank must resume from the same one)."""
        found = sorted(self.options.run_dir.glob(CHECKPOINT_GLOB)) if self.world.is_main else []
        return self.world.broadcast(found[-1] if found else None)

    def resume(self, path: str | Path | None = None) -> bool:
        """Continue from ``path`` (default: the run's latest checkpoint); False when the run has none."""
        path = Path(path) if path else self.latest_checkpoint()
        if path is None:
            return False
        if not path.is_file():
            raise RestoreError(f"checkpoint not found: {path}")
        state = self.read_checkpoint(path)
        self.model.load_state_dict(state["model"], strict=True)
        if self.ema is not None:
            # A recipe that turns the average on mid-run starts it from the checkpoint's weights.
            average = state.get("ema")
            self.ema.module.load_state_dict(average if average is not None else state["model"], strict=True)
            if average is None:
                self.log("the checkpoint has no weight average: it starts from the checkpoint's weights")
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])
        self.wall_seconds = float(state["wall_seconds"])
        self.cpu_seconds = float(state.get("cpu_seconds", 0.0))
        self.cpu_counted_from = int(state.get("cpu_counted_from", 0 if "cpu_seconds" in state else self.iteration))
        self.history = json.loads(state.get("history") or "[]")
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        self.resume_extras(state)
        if self.world.is_main and self.log_path.is_file():  # the steps after the checkpoint are redone
            kept = [line for line in self.log_path.read_text().splitlines()
                    if line and json.loads(line)["iteration"] <= self.iteration]
            self.log_path.write_text("".join(f"{line}\n" for line in kept))
        previous = int(state.get("world_size", 1))
        change = f", on {self.world.size} rank(s) instead of {previous}" if previous != self.world.size else ""
        self.log(f"resumed from {path} at iteration {self.iteration} ({self.wall_seconds / 3600:.2f} h trained)"
                 f"{change}")
        return True
