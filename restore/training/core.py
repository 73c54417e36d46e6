"""The one training core: what a run does whatever it trains. SR (``restore.training.trainer.Trainer``) and style
(``restore.style.train.StyleTrainer``) plug in by subclassing :class:`TrainingRun`.

A task builds its network and optimiser and hands them to ``attach``; it supplies ``learning_rate(iteration)`` and
``train_step()`` (one step on the batch of the current iteration, ending in ``optimise(loss)``), and where it needs
them ``prepare`` (data caches), ``after_step`` (validation, snapshots), ``describe`` and its own checkpoint entries.
The core owns the rest: device (the engine's policy), threads and seed, the EMA, the loop and its stops (iteration,
deadline, SIGTERM or Ctrl-C), wall and CPU time of the steps, ``log.jsonl``, atomic checkpoints, exact resume, and
the ranks of a torchrun launch (rank 0 alone logs, keeps the EMA and writes checkpoints).

Exact resume: a task draws the batch of iteration t from a generator seeded with t and computes the learning rate
from t, and a checkpoint holds the weights, their EMA, the optimiser, torch's RNG state and the iteration, so a
resumed run replays an uninterrupted one. A resume drops the log lines of the steps it redoes.
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
from restore.io.atomic import atomic_writer
from restore.training.ema import ModelEMA
from restore.training.hardware import describe_hardware
from restore.training.stopping import StopRequest

# checkpoint_00000761.pt (SR: one per save, the last few kept) or checkpoint.pt (style: one, replaced);
# sorted by name, the newest is last.
CHECKPOINT_GLOB = "checkpoint*.pt"
LOG_NAME = "log.jsonl"


def read_checkpoint_file(path: str | Path) -> dict[str, Any]:
    """A checkpoint's entries under today's names, whichever trainer wrote it (before the one core, SR checkpoints
    named the wall time ``elapsed_seconds`` and style checkpoints held the ``transformer`` and ``decoder`` apart)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "elapsed_seconds" in state:
        state["wall_seconds"] = state.pop("elapsed_seconds")
    if isinstance(state, dict) and "transformer" in state:
        state["model"] = {f"{part}.{key}": value for part in ("transformer", "decoder")
                          for key, value in state.pop(part).items()}
    return state


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    """The records of a run's ``log.jsonl`` (losses every ``log_every`` steps, evaluations); [] without one."""
    path = run_dir / LOG_NAME
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.is_file() else []


class TrainingRun:
    """A run of ``options``: a recipe with ``name``, ``run_dir``, ``log_every``, ``data.batch_size`` and
    ``train.iterations``, ``train.seed``, ``train.ema`` (0: no EMA)."""

    CHECKPOINT_NAME = "checkpoint_{iteration:08d}.pt"

    def __init__(self, options: Any, *, device: str, threads: int | None, checkpoint_every_seconds: float,
                 checkpoint_every_iterations: int = 0, keep: int = 1, log: Callable[[str], None] = print) -> None:
        self.world: World = world()
        if self.world.launched and not self.world.active:
            raise RestoreError("started by torchrun: train inside restore.distributed.session() "
                               "(`restore train` does), so that the ranks train together")
        self.options = options
        self.log = log if self.world.is_main else lambda message: None  # rank 0 speaks for the run
        if threads:
            torch.set_num_threads(threads)
        self.device = resolve_device(self.world.device(device))
        self.checkpoint_every = (checkpoint_every_seconds, checkpoint_every_iterations)
        self.keep = max(1, keep)
        torch.manual_seed(options.train.seed)
        self.model: nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.ema: ModelEMA | None = None
        self.iteration = 0
        # Wall and process CPU seconds (all threads) of the training steps, summed over resumes. CPU time is not
        # inflated when the machine is shared or the process paused, so runs compare fairly in core-hours.
        self.wall_seconds = self.cpu_seconds = 0.0
        self.cpu_counted_from = 0  # the iteration CPU time is counted from (checkpoints once lacked it)
        self.history: list[dict] = []  # evaluations during training (SR: the validations)
        # The model the run was initialised from, as it was when the run began (set by the task; None: from
        # scratch, or from a file without a card). An export of this very run may replace that file later, so
        # checkpoints carry the record and cards take the lineage from it.
        self.started_from: dict[str, Any] | None = None
        self.started_from_known = True  # False after resuming a checkpoint written before runs kept the record

    def attach(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """The module ``optimizer`` trains: the core keeps its EMA (rank 0), checkpoints and resumes both."""
        self.model, self.optimizer = model, optimizer
        decay = self.options.train.ema
        self.ema = ModelEMA(model, decay) if decay > 0 and self.world.is_main else None

    # ------------------------------------------------------------------- the task's part (see the docstring)
    def learning_rate(self, iteration: int) -> float:
        raise NotImplementedError

    def train_step(self) -> dict[str, torch.Tensor | float]:
        """One step on the batch of ``self.iteration``, through ``optimise``; returns the loss terms to log."""
        raise NotImplementedError

    def prepare(self) -> None: ...

    def after_step(self) -> None: ...

    def describe(self) -> str:
        return type(self).__name__

    def checkpoint_extras(self) -> dict[str, Any]:
        return {}

    def resume_extras(self, state: dict[str, Any]) -> None: ...

    # ------------------------------------------------------------------------------------------ the loop
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

    def train(self, iterations: int | None = None, *, deadline: float | None = None) -> dict:
        """Train until ``iterations`` (default: the recipe's total), checkpointing on the way and at the end.

        ``deadline`` (a ``time.monotonic()`` value) also ends the call after the step that passes it: how a
        wall-clock-bound run (scripts/gpu_campaign.sh, ``restore train-style --minutes``) trains in slices.
        """
        options, is_main = self.options, self.world.is_main
        total = options.train.iterations
        stop = min(total, iterations if iterations is not None else total)
        self.model.train()
        self.prepare()  # before the clock starts
        last_save, window_steps, window_seconds = time.monotonic(), 0, 0.0  # the steps since the last log line
        self.log(f"training {options.name}: {self.describe()}, iterations {self.iteration}->{stop} of {total}, "
                 f"batch {options.data.batch_size}, device {self.device}"
                 + (f", {self.world.size} ranks" if self.world.launched else ""))
        with StopRequest() as stopping:
            while self.iteration < stop:
                if self._any_rank(stopping.requested or (deadline is not None and time.monotonic() >= deadline)):
                    break
                lr = self.learning_rate(self.iteration)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                step_start, step_cpu_start = time.monotonic(), time.process_time()
                losses = self.train_step()
                seconds = time.monotonic() - step_start
                self.wall_seconds += seconds
                self.cpu_seconds += time.process_time() - step_cpu_start
                window_steps, window_seconds = window_steps + 1, window_seconds + seconds
                if self.iteration % options.log_every == 0 or self.iteration in (1, stop):
                    # The loss of the global batch: each rank's step weighs its part by its share.
                    parts = self.world.all_gather({name: float(value) for name, value in losses.items()})
                    self._log_step({name: sum(part[name] for part in parts) / len(parts) for name in losses}, lr,
                                   window_steps / max(window_seconds, 1e-9))
                    window_steps, window_seconds = 0, 0.0
                every_seconds, every_iterations = self.checkpoint_every
                if is_main:
                    self.after_step()
                    if time.monotonic() - last_save >= every_seconds or (
                            every_iterations and self.iteration % every_iterations == 0):
                        self.save_checkpoint()
                        last_save = time.monotonic()
        if is_main:
            path = self.save_checkpoint()
            self.log(f"saved {path}" + (" (stop requested)" if stopping.requested else ""))
        return {"iteration": self.iteration, "hours": self.wall_seconds / 3600, "core_hours": self.cpu_seconds / 3600,
                "history": self.history, "stop_requested": stopping.requested}

    def _log_step(self, values: dict[str, float], lr: float, rate: float) -> None:
        if not self.world.is_main:
            return
        total, samples = self.options.train.iterations, rate * self.options.data.batch_size
        self.append_log({"iteration": self.iteration, **values, "lr": lr, "iters_per_s": rate,
                         "samples_per_s": samples, "hours": self.wall_seconds / 3600,
                         "core_hours": self.cpu_seconds / 3600})
        terms = "  ".join(f"{name} {value:8.4f}" for name, value in values.items())
        self.log(f"iter {self.iteration:>7}/{total}  {terms}  lr {lr:.2e}  {rate:5.2f} it/s  {samples:6.1f} "
                 f"samples/s  ETA {(total - self.iteration) / max(rate, 1e-9) / 3600:5.2f} h")

    def _any_rank(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any rank: a stop (signal, deadline) seen by one rank stops all of them at
        the same step, or the others would wait forever for its gradients. (Every step: a tensor, not an object.)"""
        if not self.world.launched:
            return flag
        import torch.distributed as dist

        value = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    # ------------------------------------------------------------------------------ log and checkpoints
    @property
    def log_path(self) -> Path:
        return self.options.run_dir / LOG_NAME

    def append_log(self, record: dict) -> None:
        self.options.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as handle:
            handle.write(json.dumps({**record, "world_size": self.world.size}) + "\n")

    def save_checkpoint(self) -> Path:
        """Write the checkpoint atomically, keeping the newest ``keep``; returns its path."""
        run_dir = self.options.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / self.CHECKPOINT_NAME.format(iteration=self.iteration)
        state = {"model": self.model.state_dict(), "ema": self.ema.module.state_dict() if self.ema else None,
                 "optimizer": self.optimizer.state_dict(), "iteration": self.iteration,
                 "wall_seconds": self.wall_seconds, "cpu_seconds": self.cpu_seconds,
                 "cpu_counted_from": self.cpu_counted_from, "history": json.dumps(self.history),
                 "torch_rng": torch.get_rng_state(), "hardware": describe_hardware(self.device),
                 "world_size": self.world.size, **self.checkpoint_extras()}
        if self.started_from_known:
            state["started_from"] = json.dumps(self.started_from)
        with atomic_writer(path) as stream:
            torch.save(state, stream)
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
        state = read_checkpoint_file(path)
        self.model.load_state_dict(state["model"], strict=True)
        if self.ema is not None:  # a recipe that turns the average on mid-run starts it from the weights
            if state.get("ema") is None:
                self.log("the checkpoint has no weight average: it starts from the checkpoint's weights")
            self.ema.module.load_state_dict(state.get("ema") or state["model"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])
        self.wall_seconds = float(state["wall_seconds"])
        self.cpu_seconds = float(state.get("cpu_seconds", 0.0))
        self.cpu_counted_from = int(state.get("cpu_counted_from", 0 if "cpu_seconds" in state else self.iteration))
        self.history = json.loads(state.get("history") or "[]")
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        self.started_from_known = "started_from" in state
        self.started_from = json.loads(state["started_from"]) if self.started_from_known else None
        self.resume_extras(state)
        if self.world.is_main and self.log_path.is_file():
            kept = [record for record in read_log(self.options.run_dir) if record["iteration"] <= self.iteration]
            self.log_path.write_text("".join(json.dumps(record) + "\n" for record in kept))
        previous = int(state.get("world_size", 1))
        change = f", on {self.world.size} rank(s) instead of {previous}" if previous != self.world.size else ""
        self.log(f"resumed from {path} at iteration {self.iteration} ({self.wall_seconds / 3600:.2f} h trained)"
                 f"{change}")
        return True
