"""Equal-CPU-time training: size each run's schedule to a budget of CPU core-seconds, not to a step count.

Comparisons of networks (shapes in ``scripts/sweep_x2.py``, attention blocks in ``scripts/attention_ablation.py``)
are fair only at equal cost: a fast network gets more steps than a slow one. The real training step is timed
first (``measure_throughput``: fresh model, the recipe's batch and patch, process CPU time, so a shared or
paused machine does not skew it), then the cosine schedule is sized to ``budget x iterations per core-second``
(``budget_iterations``, ``sized_overrides``). ``train_to_end`` trains such a run, resuming a cut one from its
last checkpoint; a SIGTERM stops it cleanly after the current step (the trainer's ``StopRequest``).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from restore.training.options import Options
from restore.training.trainer import Trainer

MIN_ITERATIONS = 50


def measure_throughput(options: Options, warmup: int = 3, timed: int = 15, data_root=None) -> dict[str, float]:
    """Iterations per CPU core-second (and per wall second) of the real training step of ``options``.

    A fresh model takes ``warmup`` untimed steps (allocator, oneDNN kernel selection) and ``timed`` timed ones;
    nothing is saved. Returns ``params``, ``iters_per_s``, ``iters_per_core_s``, ``samples_per_s``.
    """
    trainer = Trainer(options, data_root=data_root, log=lambda message: None)
    _ = trainer.sampler  # build the patch cache before the clock starts
    for _ in range(warmup):
        trainer.step(1e-4)
    wall, cpu = time.monotonic(), time.process_time()
    for _ in range(timed):
        trainer.step(1e-4)
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    return {"params": sum(p.numel() for p in trainer.model.parameters()), "iters_per_s": timed / wall,
            "iters_per_core_s": timed / cpu, "samples_per_s": timed * options.data.batch_size / wall}


def measure_throughputs(options: dict[str, Options], warmup: int = 3, timed: int = 15, rounds: int = 3,
                        data_root=None) -> dict[str, dict[str, float]]:
    """``measure_throughput`` for several recipes at once, interleaved: ``rounds`` rounds, each timing
    ``timed / rounds`` steps of every recipe in turn, in one process.

    Rates measured one recipe at a time, minutes apart, carry whatever else the machine did in those minutes
    (the attention ablation's first probes: ``none``, the cheapest block, came out 11% slower than ``se``).
    Interleaved, a slow stretch touches every recipe alike, so the ratios hold. The recipes share one patch
    sampler (same data, batch and patch size are required). Returns name -> the same fields as
    ``measure_throughput`` plus ``method``.
    """
    trainers = {name: Trainer(recipe, data_root=data_root, log=lambda message: None)
                for name, recipe in options.items()}
    shapes = {(recipe.data.patch_size, recipe.data.batch_size, tuple(recipe.data.train))
              for recipe in options.values()}
    if len(shapes) != 1:
        raise ValueError("interleaved throughputs need one data setting (patch, batch, sets) for every recipe")
    shared = next(iter(trainers.values())).sampler
    for trainer in trainers.values():
        trainer._sampler = shared
        for _ in range(warmup):
            trainer.step(1e-4)
    per_round = max(1, timed // rounds)
    wall = dict.fromkeys(trainers, 0.0)
    cpu = dict.fromkeys(trainers, 0.0)
    for _ in range(rounds):
        for name, trainer in trainers.items():
            started_wall, started_cpu = time.monotonic(), time.process_time()
            for _ in range(per_round):
                trainer.step(1e-4)
            wall[name] += time.monotonic() - started_wall
            cpu[name] += time.process_time() - started_cpu
    steps = per_round * rounds
    method = f"interleaved: {len(trainers)} recipes, {rounds} rounds of {per_round} steps"
    return {name: {"params": sum(p.numel() for p in trainer.model.parameters()), "iters_per_s": steps / wall[name],
                   "iters_per_core_s": steps / cpu[name],
                   "samples_per_s": steps * options[name].data.batch_size / wall[name], "method": method}
            for name, trainer in trainers.items()}


def budget_iterations(core_seconds: float, iters_per_core_s: float, minimum: int = MIN_ITERATIONS) -> int:
    """The step count that ``core_seconds`` of CPU buys at the measured rate (at least ``minimum``)."""
    return max(minimum, round(core_seconds * iters_per_core_s))


def sized_overrides(iterations: int, validations: int = 4) -> dict[str, Any]:
    """Recipe overrides that fit the schedule to ``iterations``: the cosine length, a warm-up of a tenth (at most
    the recipes' 200 steps) and ``validations`` evenly spaced Set5 checks (0: none)."""
    return {
        "train.iterations": iterations,
        "train.schedule.warmup": max(1, min(200, iterations // 10)),
        "validation_every": max(1, iterations // validations) if validations else 0,
    }


def train_to_end(options: Options, log: Callable[[str], None] = print, data_root=None) -> Trainer:
    """Train ``options`` to its last iteration, resuming from the run's latest checkpoint if there is one.

    Returns the trainer; ``trainer.iteration < options.train.iterations`` means it was stopped (SIGTERM/Ctrl-C)
    after checkpointing, and calling this again resumes it exactly.
    """
    trainer = Trainer(options, data_root=data_root, log=log)
    trainer.resume()
    if trainer.iteration < options.train.iterations:
        trainer.train()
    return trainer
