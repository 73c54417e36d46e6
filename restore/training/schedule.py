"""Learning rate as a pure function of the iteration: no scheduler state, so resume is exact."""
from __future__ import annotations

import bisect
import math

from restore.training.options import ScheduleOptions


def learning_rate(iteration: int, base_lr: float, total: int, schedule: ScheduleOptions) -> float:
    """The learning rate for 0-based ``iteration`` of a ``total``-iteration run."""
    if schedule.warmup and iteration < schedule.warmup:
        return base_lr * (iteration + 1) / schedule.warmup
    if schedule.type == "step":
        return base_lr * schedule.gamma ** bisect.bisect_right(sorted(schedule.milestones), iteration)
    span = max(1, total - schedule.warmup)
    progress = min(1.0, (iteration - schedule.warmup) / span)
    return schedule.eta_min + 0.5 * (base_lr - schedule.eta_min) * (1 + math.cos(math.pi * progress))
