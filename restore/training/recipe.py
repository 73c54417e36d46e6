"""Recipes: a YAML file read into typed dataclasses, for every training task (SR and style alike).

A dataclass field whose type is a dataclass is a nested section; a key the dataclass does not declare is an
error naming the known ones; a field without a default is required. ``--set a.b=value`` overrides (value parsed
as YAML) are applied to the YAML before it is read, so they are checked like the file itself.
"""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from restore.errors import RestoreError

T = TypeVar("T")


class OptionsError(RestoreError):
    """The options file is wrong; the message names the field and the problem."""


def build_options(cls: type[T], raw: Any, where: str = "options") -> T:
    """``cls`` from a mapping read from YAML; nested dataclasses from nested mappings, lists into tuples."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise OptionsError(f"{where}: expected a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise OptionsError(f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    missing = [name for name, f in fields.items() if name not in raw
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise OptionsError(f"{where}: missing required option(s) {', '.join(missing)}")
    types = typing.get_type_hints(cls)
    values = {}
    for key, value in raw.items():
        kind = types[key]
        if dataclasses.is_dataclass(kind):
            value = build_options(kind, value, f"{where}.{key}")
        elif typing.get_origin(kind) is tuple:
            value = tuple(value)
        values[key] = value
    return cls(**values)


def read_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The recipe's YAML mapping with ``overrides`` (``{"train.lr": 1e-4}``) applied."""
    path = Path(path)
    if not path.is_file():
        raise OptionsError(f"options file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise OptionsError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise OptionsError(f"{path}: the options file must be a mapping")
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return raw


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` arguments -> ``{KEY: VALUE parsed as YAML}``."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise OptionsError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    return overrides
