"""Exponential moving average of a model's weights (evaluated and exported instead of the raw weights)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEMA:
    """``ema = d * ema + (1 - d) * weights`` after every step, with d warmed up as min(decay, (1+t)/(10+t))
    so the average is not dominated by the random initialisation in short runs."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for param in self.module.parameters():
            param.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        current = model.state_dict()
        for key, value in self.module.state_dict().items():
            if value.dtype.is_floating_point:
                value.lerp_(current[key].detach(), 1.0 - decay)
            else:
                value.copy_(current[key])
