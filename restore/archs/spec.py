"""``ArchSpec``: everything the rest of restore knows about one architecture, declared in its own module.

An arch module (``restore/archs/<arch>.py``) builds its network and registers one spec with
``restore.archs.register``. The zoo, the engine's tile planner, the checkpoint loader's hints, training's
``init_from``, the BasicSR bridge and the benchmark chart read the spec and never test an arch's name.
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from restore.archs.layout import StateDict, pixel_shuffle_scale
from restore.archs.memory import MemoryModel

__all__ = ["ArchSpec", "Detected"]


@dataclass(frozen=True)
class Detected:
    """What :meth:`ArchSpec.detect` reads from a state dict: enough to build the network it fits."""

    arch: str
    scale: int
    hyperparameters: dict[str, Any]


@dataclass(frozen=True)
class ArchSpec:
    """One architecture, described once.

    Attributes:
        name: the registry name (``build_model(name, ...)``, zoo entries, recipes), lower case.
        title: the paper's name of the method (``"RCAN"``), used in messages.
        summary: one line for the zoo listing: what it is, the citation, the paper configuration, the weights.
        builder: ``builder(scale, **hyperparameters)`` builds the network. Its keyword defaults are the paper's
            full configuration, declared there and nowhere else (the network classes take every value).
        read_layout: the layout hyperparameters (those that shape tensors) from an official state dict's keys
            and shapes; may raise KeyError/ValueError/IndexError on a layout that is not this arch's.
        fingerprint: a key pattern that only this arch's official layout has (names it in checkpoint errors).
        upsampler_prefixes: key prefixes of the scale-dependent upsampler (left fresh by ``init_from``).
        memory: ``memory(scale, configuration, element_size)``, the tile planner's cost model.
        basicsr_name: the name registered in BasicSR's ARCH_REGISTRY (None: not bridged).
        published_key: the ``method`` of its rows in ``restore/data/published.json`` (None: no published scores).
        learned: whether it has weights (and so can be trained); False for a fixed baseline.
        rounds_input: whether the network rounds its input to 8 bits (exact on 8-bit images only; the engine
            swaps in an unrounded form for deeper ones).
        scales: the scales it is built at (the zoo lists one entry per scale).
        exported_quadratic: bytes per squared LR pixel that its exported graph (ONNX, plain-ops paths) adds to
            ``memory``'s model: attention that the fast path forms in bands is formed whole there.
    """

    name: str
    title: str
    summary: str
    builder: Callable[..., nn.Module]
    memory: Callable[[int, Mapping[str, Any], int], MemoryModel]
    read_layout: Callable[[StateDict], dict[str, Any]] | None = None
    fingerprint: re.Pattern[str] | None = None
    upsampler_prefixes: tuple[str, ...] = ()
    basicsr_name: str | None = None
    published_key: str | None = None
    learned: bool = True
    rounds_input: bool = False
    scales: tuple[int, ...] = (2, 3, 4)
    exported_quadratic: float = 0.0

    def __post_init__(self) -> None:
        if self.name != self.name.lower():
            raise ValueError(f"arch names are lower case, got {self.name!r}")
        undefaulted = [name for name, parameter in self._parameters().items()
                       if parameter.default is inspect.Parameter.empty]
        if undefaulted:
            raise ValueError(
                f"{self.name}'s builder must default every hyperparameter; {', '.join(undefaulted)} has none"
            )

    def _parameters(self) -> dict[str, inspect.Parameter]:
        parameters = dict(inspect.signature(self.builder).parameters)
        parameters.pop("scale", None)
        return parameters

    @property
    def defaults(self) -> dict[str, Any]:
        """The paper's full configuration: every hyperparameter of the builder and its default."""
        return {name: parameter.default for name, parameter in self._parameters().items()}

    def build(self, scale: int, **hyperparameters: Any) -> nn.Module:
        """The network at ``scale``: the paper configuration overridden by keyword; unknown names raise TypeError."""
        unknown = sorted(set(hyperparameters) - set(self.defaults))
        if unknown:
            raise TypeError(
                f"{self.name} got unknown hyperparameter(s) {', '.join(unknown)}; "
                f"it takes: {', '.join(self.defaults) or 'none'}"
            )
        return self.builder(scale, **hyperparameters)

    def memory_model(self, scale: int, config: Mapping[str, Any], element_size: int) -> MemoryModel:
        """The tile planner's cost of one forward with ``config`` (the paper configuration where it is silent)."""
        return self.memory(scale, {**self.defaults, **config}, element_size)

    def matches_fingerprint(self, state_dict: StateDict) -> bool:
        """Whether any key carries this arch's fingerprint (a partial or damaged state dict may)."""
        return self.fingerprint is not None and any(self.fingerprint.search(key) for key in state_dict)

    def detect(self, state_dict: StateDict) -> Detected | None:
        """Scale and hyperparameters of this arch's official layout, read from tensors alone; None otherwise.

        Works at any configuration, not only the paper's. The reading is confirmed by building the network it
        describes (on the meta device, no memory) and requiring exactly its keys and shapes, so a state dict
        of another arch, or a damaged one, is None rather than a wrong guess.
        """
        if self.read_layout is None or not self.matches_fingerprint(state_dict):
            return None
        try:
            hyperparameters = self.read_layout(state_dict)
        except (KeyError, ValueError, IndexError, ZeroDivisionError):
            return None
        scale = pixel_shuffle_scale(state_dict, self.upsampler_prefixes)
        if scale is None or scale not in self.scales:
            return None
        try:
            with torch.device("meta"):
                expected = self.build(scale, **hyperparameters).state_dict()
        except (TypeError, ValueError):
            return None
        fits = expected.keys() == state_dict.keys() and all(
            tuple(state_dict[key].shape) == tuple(value.shape) for key, value in expected.items()
        )
        return Detected(self.name, scale, hyperparameters) if fits else None
