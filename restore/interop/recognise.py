"""Recognise a super-resolution checkpoint from its tensors: arch, scale, configuration and layout.

A file is read as :func:`restore.checkpoint.read_state_dict` reads it (weights-only pickles or safetensors,
wrappers such as ``params_ema`` / ``state_dict`` / ``module.`` taken off, non-finite weights refused), then
every reading restore knows is tried:

- ``official``: the authors' (EDSR-style) keys of a registered arch, at any configuration
  (:meth:`restore.archs.ArchSpec.detect`);
- ``basicsr``: BasicSR's own ``RCAN`` class (:mod:`restore.interop.basicsr_rcan`), renamed onto ours;
- ``restore``: a zoo file with its card beside it (``<name>_x<s>.json`` naming the file), whose
  configuration (attention plug-ins included) is the card's, checked against the tensors.

Every reading is confirmed by the exact keys and shapes of the network it describes. Exactly one must fit:
none is an :class:`UnrecognisedCheckpoint` naming the closest arch and the keys that did not fit, two are an
:class:`AmbiguousCheckpoint` listing both. Nothing is guessed.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from restore.archs import ArchSpec, spec, specs
from restore.archs.layout import StateDict, pixel_shuffle_scale
from restore.blocks.mean_shift import DIV2K_RGB_MEAN
from restore.checkpoint import CheckpointError, CheckpointSource, load_official, read_state_dict
from restore.errors import SettingsError, WeightsError
from restore.interop import basicsr_rcan

__all__ = [
    "LAYOUTS", "AmbiguousCheckpoint", "Recognised", "UnrecognisedCheckpoint", "load", "recognise", "recognise_for",
]

LAYOUTS = ("official", "basicsr", "restore")
_SHOWN_KEYS = 5  # key names quoted per kind in a near-miss message


class UnrecognisedCheckpoint(CheckpointError):
    """No known layout fits the file; the message names the closest arch and the keys that did not fit."""


class AmbiguousCheckpoint(CheckpointError):
    """More than one reading fits the file exactly; the message lists them."""


@dataclass(frozen=True)
class Recognised:
    """What a checkpoint is, read from its tensors.

    ``config`` holds the hyperparameters that shape the tensors (RCAN/SAN: n_resgroups, n_resblocks, n_feats,
    reduction; RNAN: n_resgroups, n_feats; RDN: G0, D, C, G; plus kernel_size where the arch reads it), and for
    a zoo file everything its card sets. ``params`` counts the recognised network's parameters, ``dtype`` the
    file's floating dtypes (``"float16"``, or ``"float16+float32"`` when mixed), ``wrappers`` the containers
    taken off, outermost first. ``name`` is the zoo name for a zoo file, the arch otherwise.
    ``assumed`` holds what the network needs and the file does not store (BasicSR's ``img_range`` and
    ``rgb_mean``, taken as given to :func:`recognise`: BasicSR's defaults unless told otherwise); empty for
    the other layouts. ``state_dict`` holds the tensors in our (official) keys, ready for strict loading.
    """

    arch: str
    scale: int
    config: dict[str, Any]
    layout: str
    params: int
    dtype: str
    wrappers: tuple[str, ...]
    source: str
    name: str
    card: str | None = None
    assumed: dict[str, Any] = field(default_factory=dict)
    state_dict: dict[str, Tensor] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The ``restore inspect --json`` object."""
        return {
            "file": self.source,
            "arch": self.arch,
            "scale": self.scale,
            "config": {key: _plain(value) for key, value in self.config.items()},
            "layout": self.layout,
            "params": self.params,
            "dtype": self.dtype,
            "wrappers": list(self.wrappers),
            "name": self.name,
            "card": self.card,
            "assumed": {key: _plain(value) for key, value in self.assumed.items()},
        }

    def describe(self) -> str:
        """One line: ``RCAN x4, official layout, n_resgroups=10 ...``."""
        assumed = f" (assumed, not in the file: {_config_text(self.assumed)})" if self.assumed else ""
        return f"{spec(self.arch).title} x{self.scale}, {self.layout} layout{assumed}, {_config_text(self.config)}"

    def check(self, *, scale: int | None = None, model: str | None = None) -> None:
        """Raise SettingsError when ``scale`` or ``model`` (a zoo name or arch; None/"auto": any) disagree."""
        if scale is not None and int(scale) != self.scale:
            raise SettingsError(
                f"--scale {scale} disagrees with {self.source}, which holds x{self.scale} weights ({self.describe()}); "
                f"drop --scale or pass --scale {self.scale}"
            )
        if model is None or model == "auto" or model.lower() == self.name:
            return
        arch, config = _named_network(model, self.scale)
        differing = {key: value for key, value in config.items()
                     if self.config.get(key, spec(arch).defaults.get(key)) != value}
        if arch != self.arch or differing:
            wanted = f"{spec(arch).title}" + (f" with {_config_text(config)}" if config else "")
            raise SettingsError(
                f"--model {model} ({wanted}) disagrees with {self.source}, which holds {self.describe()}; "
                "drop --model to use the network the file describes"
            )

    def build(self, device: str | torch.device = "cpu") -> nn.Module:
        """The recognised network with the file's weights, strictly loaded; float32, eval mode, on ``device``."""
        model = spec(self.arch).build(self.scale, **self.config)
        load_official(model, self.state_dict)
        return model.float().eval().to(device)


@dataclass(frozen=True)
class _Reading:
    layout: str
    arch: str
    scale: int
    config: dict[str, Any]
    tensors: dict[str, Tensor]
    name: str
    card: str | None = None
    assumed: dict[str, Any] = field(default_factory=dict)


def recognise(
    source: CheckpointSource,
    *,
    img_range: float = basicsr_rcan.BASICSR_IMG_RANGE,
    rgb_mean: Sequence[float] = DIV2K_RGB_MEAN,
) -> Recognised:
    """Recognise the checkpoint ``source`` (a path or an in-memory state dict), for any configuration.

    ``img_range`` and ``rgb_mean`` apply to BasicSR's RCAN layout only: its file does not store them, so
    BasicSR's defaults (255, DIV2K's mean) are assumed unless the option file it was trained with set others.
    Raises :class:`UnrecognisedCheckpoint`, :class:`AmbiguousCheckpoint`, or CheckpointError for a file that
    cannot be read safely; WeightsError when a zoo card beside the file does not match it.
    """
    if not img_range > 0:
        raise SettingsError(f"img_range must be positive, got {img_range}")
    read = read_state_dict(source)
    tensors = read.tensors
    readings = _official_readings(tensors)
    foreign = _basicsr_tensors(tensors, img_range, rgb_mean)
    if foreign is not None:
        found = spec(basicsr_rcan.ARCH).detect(foreign)
        if found is not None:
            readings.append(_Reading("basicsr", found.arch, found.scale, dict(found.hyperparameters), foreign,
                                     found.arch, assumed={"img_range": img_range, "rgb_mean": tuple(rgb_mean)}))
    card = _card_reading(source, tensors, readings)
    if card is not None:
        # The card describes the same network as an official reading of its arch and scale, more fully.
        readings = [card] + [r for r in readings if (r.arch, r.scale) != (card.arch, card.scale)]
    if not readings:
        raise UnrecognisedCheckpoint(_near_miss(read.label, tensors, foreign))
    if len(readings) > 1:
        listed = "; ".join(f"{spec(r.arch).title} x{r.scale} ({r.layout} layout, {_config_text(r.config)})"
                           for r in readings)
        raise AmbiguousCheckpoint(
            f"{read.label} fits more than one network exactly, and restore will not pick one: {listed}. "
            "Build the one you mean and load it with restore.load_official."
        )
    reading = readings[0]
    return Recognised(
        arch=reading.arch,
        scale=reading.scale,
        config=reading.config,
        layout=reading.layout,
        params=sum(value.numel() for value in reading.tensors.values()),
        dtype="+".join(sorted({str(value.dtype).removeprefix("torch.") for value in tensors.values()
                               if value.is_floating_point()})) or "none",
        wrappers=read.wrappers,
        source=read.label,
        name=reading.name,
        card=reading.card,
        assumed=reading.assumed,
        state_dict=reading.tensors,
    )


def load(
    source: CheckpointSource,
    *,
    scale: int | None = None,
    model: str | None = None,
    device: str | torch.device = "cpu",
    img_range: float = basicsr_rcan.BASICSR_IMG_RANGE,
    rgb_mean: Sequence[float] = DIV2K_RGB_MEAN,
) -> nn.Module:
    """The network a checkpoint describes, built and strictly loaded (float32, eval mode, on ``device``).

    ``scale`` and ``model`` (a zoo name or arch), when given, must agree with the file (SettingsError
    otherwise). A file in no known layout can still be loaded into a network named by both ``model`` and
    ``scale`` (strictly: its keys must be exactly that network's). ``img_range``/``rgb_mean``: see
    :func:`recognise`. ``restore.load("RCAN_BIX4.pt")`` is this function.
    """
    found = recognise_for(source, scale=scale, model=model, img_range=img_range, rgb_mean=rgb_mean)
    if found is None:
        from restore.zoo import load_model

        return load_model(model, int(scale), source, device=device)  # type: ignore[arg-type]
    return found.build(device)


def recognise_for(
    source: CheckpointSource,
    *,
    scale: int | None = None,
    model: str | None = None,
    img_range: float = basicsr_rcan.BASICSR_IMG_RANGE,
    rgb_mean: Sequence[float] = DIV2K_RGB_MEAN,
) -> Recognised | None:
    """:func:`recognise`, then :meth:`Recognised.check` against the ``scale`` and ``model`` asked for.

    None when the file is in no known layout but ``model`` (not "auto") and ``scale`` both name a network: the
    caller then loads the file strictly into that one (the zoo's ``load_model``), whose error lists what
    does not fit.
    """
    try:
        found = recognise(source, img_range=img_range, rgb_mean=rgb_mean)
    except UnrecognisedCheckpoint:
        if model is None or model == "auto" or scale is None:
            raise
        return None
    found.check(scale=scale, model=model)
    return found


# ---------------------------------------------------------------------------------------------- readings


def _official_readings(tensors: StateDict) -> list[_Reading]:
    readings = []
    for arch in specs():
        found = arch.detect(tensors)
        if found is not None:
            readings.append(_Reading("official", found.arch, found.scale, dict(found.hyperparameters),
                                     dict(tensors), found.arch))
    return readings


def _basicsr_tensors(tensors: StateDict, img_range: float, rgb_mean: Sequence[float]) -> dict[str, Tensor] | None:
    """The tensors renamed from BasicSR's RCAN layout, or None when they are not in it."""
    if not basicsr_rcan.looks_like_basicsr_rcan(tensors):
        return None
    try:
        return basicsr_rcan.to_official(tensors, img_range, rgb_mean)
    except ValueError:
        return None


def _card_reading(source: CheckpointSource, tensors: StateDict, readings: list[_Reading]) -> _Reading | None:
    """The zoo card beside the file (``<stem>.json`` whose ``weights`` names it), checked against the tensors."""
    if isinstance(source, Mapping):
        return None
    path = Path(source)
    card_path = path.with_suffix(".json")
    if not card_path.is_file():
        return None
    try:
        named = json.loads(card_path.read_text()).get("weights")
    except (ValueError, OSError, AttributeError):
        return None
    if named != path.name:
        return None
    from restore.hashing import sha256_file
    from restore.zoo import _read_card

    entry = _read_card(card_path)
    if entry.sha256 and sha256_file(path) != entry.sha256:
        raise WeightsError(f"{path} does not match the sha256 pinned in its card {card_path}")
    arch = spec(entry.arch)
    expected = _meta_state_dict(arch, entry.scale, entry.config)
    missing, unexpected, mismatched = _differences(tensors, expected)
    if missing or unexpected or mismatched:
        raise WeightsError(
            f"{path} does not fit its card {card_path} ({arch.title} x{entry.scale}, {_config_text(entry.config)}):\n  "
            f"{_differences_text(tensors, expected, missing, unexpected, mismatched)}"
        )
    detected = next((r.config for r in readings if (r.arch, r.scale) == (entry.arch, entry.scale)), {})
    return _Reading("restore", entry.arch, entry.scale, {**detected, **entry.config}, dict(tensors), entry.name,
                    str(card_path))


# ---------------------------------------------------------------------------------------------- near misses


def _near_miss(label: str, tensors: StateDict, foreign: StateDict | None) -> str:
    """Why nothing fits: the closest arch (most keys with the right name and shape) and what differs."""
    known = ", ".join(arch.title for arch in specs() if arch.read_layout is not None)
    head = (f"{label} is not a checkpoint restore recognises (layouts: {', '.join(LAYOUTS)}; archs: {known}); "
            "nothing was guessed.\n ")
    interpretations: list[tuple[str, StateDict]] = [("official", tensors)]
    if foreign is not None:
        interpretations.append(("basicsr", foreign))
    best: tuple[tuple[int, int, int], str, ArchSpec, int, dict[str, Any], dict[str, Any], StateDict] | None = None
    for layout, candidate in interpretations:
        for arch in specs():
            if arch.read_layout is None:
                continue
            for scale, config, expected in _attempts(arch, candidate):
                missing, unexpected, mismatched = _differences(candidate, expected)
                # Shared names first: a layout read only in part (an attention plug-in in place of RCAN's) is
                # compared at the paper configuration, where the names still match and the shapes may not.
                shared = len(expected) - len(missing)
                score = (shared, shared - len(mismatched), -(len(missing) + len(unexpected)))
                if best is None or score > best[0]:
                    best = (score, layout, arch, scale, config, expected, candidate)
    if best is None or best[0][0] == 0:
        from restore.archs.sanet import TRANSFORM_FINGERPRINT

        if any(TRANSFORM_FINGERPRINT.search(key.removeprefix("transformer.")) for key in tensors):
            return (f"{head} It is a SANet style-transfer model (restore stylize --model FILE), "
                    "not a super-resolution one.")
        return f"{head} None of its {len(tensors)} keys is a known arch's (first: {_names(list(tensors))})."
    _, layout, arch, scale, config, expected, candidate = best
    missing, unexpected, mismatched = _differences(candidate, expected)
    shape = _config_text(config) if config else "its paper configuration"
    return (
        f"{head} closest: {arch.title} x{scale} in the {layout} layout ({shape}): "
        f"{_differences_text(candidate, expected, missing, unexpected, mismatched)}"
    )


def _attempts(arch: ArchSpec, tensors: StateDict):
    """(scale, config, expected state dict) of the networks ``arch`` could mean by ``tensors``."""
    try:
        config = dict(arch.read_layout(tensors))  # type: ignore[misc]
    except (KeyError, ValueError, IndexError, ZeroDivisionError):
        config = {}
    scale = pixel_shuffle_scale(tensors, arch.upsampler_prefixes)
    for attempt in ([scale] if scale in arch.scales else list(arch.scales)):
        for settings in (config, {}) if config else ({},):
            try:
                yield attempt, settings, _meta_state_dict(arch, attempt, settings)
                break
            except (TypeError, ValueError, RuntimeError):
                continue


def _meta_state_dict(arch: ArchSpec, scale: int, config: Mapping[str, Any]) -> dict[str, Tensor]:
    """Keys and shapes of ``arch`` at ``scale`` and ``config``, built on the meta device (no memory)."""
    with torch.device("meta"):
        return arch.build(scale, **config).state_dict()


def _differences(tensors: StateDict, expected: StateDict) -> tuple[list[str], list[str], list[str]]:
    missing = [key for key in expected if key not in tensors]
    unexpected = [key for key in tensors if key not in expected]
    mismatched = [key for key in expected if key in tensors and tuple(tensors[key].shape) != tuple(expected[key].shape)]
    return missing, unexpected, mismatched


def _differences_text(
    tensors: StateDict, expected: StateDict, missing: list[str], unexpected: list[str], mismatched: list[str]
) -> str:
    """``N of its M keys fit`` and one indented line per kind of misfit, each naming a few keys."""
    fitting = len(expected) - len(missing) - len(mismatched)
    parts = [f"{fitting} of its {len(expected)} keys fit"]
    if missing:
        parts.append(f"missing (in the network, not in the file) [{len(missing)}]: {_names(missing)}")
    if unexpected:
        parts.append(f"unexpected (in the file, not in the network) [{len(unexpected)}]: {_names(unexpected)}")
    if mismatched:
        shapes = [f"{key} file {tuple(tensors[key].shape)} vs network {tuple(expected[key].shape)}"
                  for key in mismatched]
        parts.append(f"shape-mismatched [{len(mismatched)}]: {_names(shapes)}")
    return "\n  ".join(parts)


def _names(items: list[str]) -> str:
    more = len(items) - _SHOWN_KEYS
    return ", ".join(items[:_SHOWN_KEYS]) + (f", ... {more} more" if more > 0 else "")


# ---------------------------------------------------------------------------------------------- helpers


def _named_network(model: str, scale: int) -> tuple[str, dict[str, Any]]:
    """(arch, config) that ``model`` names: an arch (any configuration) or a zoo entry (its card's)."""
    try:
        return spec(model).name, {}
    except KeyError:
        pass
    from restore.zoo import find_entry

    entry = find_entry(model, scale)  # WeightsError naming the known models for an unknown name
    return entry.arch, dict(entry.config)


def _config_text(config: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={_plain(value)}" for key, value in config.items()) or "paper configuration"


def _plain(value: Any) -> Any:
    """A JSON-able form of a hyperparameter value (tuples as lists, anything exotic as text)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)
