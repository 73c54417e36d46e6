"""The plan of an equal-time ablation (``options/ablation/attention_plan.yml``): a base recipe, variants of its
network, the main table, the sub-ablation studies, the seeds, and the order the runs go in.

Read by ``scripts/attention_ablation.py`` (which trains and reports) and ``benchmarks/bench_attention_cost.py``
(which times every variant's forward); the plan file is the one place the variants are declared. Both write the
results file (``{"meta", "rows"}``, a row per finished run) through ``write_rows``; its ``cpu_ms`` column is always
taken from the cost benchmark's own file, whichever of the two writes last.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import json
import os

import yaml

from restore.training.options import OptionsError, load_options, resolve_repo_path


@dataclass
class AblationPlan:
    recipe: Path
    seeds: list[int]
    third_seed: int | None
    third_top: int
    eval_sets: list[str]
    variants: dict[str, dict[str, Any]]  # name -> network overrides
    main: list[str]
    studies: dict[str, dict[str, str]]  # title -> {setting label: variant}
    source: Path | None = None

    def network(self, variant: str) -> dict[str, Any]:
        """The full network options of ``variant``: the recipe's network with the variant's settings on top."""
        return {**load_options(self.recipe).network, **self.variants[variant]}

    def study_variants(self) -> list[str]:
        """Variants the studies add to the main table, in plan order."""
        seen = set(self.main)
        extra = []
        for settings in self.studies.values():
            for variant in settings.values():
                if variant not in seen:
                    seen.add(variant)
                    extra.append(variant)
        return extra

    def runs(self, mean_set5: dict[str, float]) -> list[tuple[str, int]]:
        """Every (variant, seed) in run order, given the mean Set5 PSNR of the main variants finished so far.

        The main table seed by seed (so a cut ablation has every block at the first seed), then the third seed for
        the ``third_top`` best main variants -- known only once every main run of ``seeds`` is finished, so
        until then the walk ends at the main table --, then the studies' own variants, seed by seed.
        """
        order = [(variant, seed) for seed in self.seeds for variant in self.main]
        if self.third_seed is not None:
            if not all(variant in mean_set5 for variant in self.main):
                return order
            top = sorted(self.main, key=lambda variant: -mean_set5[variant])[: self.third_top]
            order += [(variant, self.third_seed) for variant in top]
        return order + [(variant, seed) for seed in self.seeds for variant in self.study_variants()]


def load_plan(path: str | Path) -> AblationPlan:
    """Parse and check a plan file; a wrong plan raises :class:`OptionsError` naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise OptionsError(f"ablation plan not found: {path}")
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise OptionsError(f"{path}: the plan must be a mapping")
    missing = [key for key in ("recipe", "seeds", "variants", "main") if key not in raw]
    if missing:
        raise OptionsError(f"{path}: missing {', '.join(missing)}")
    third = raw.get("third_seed") or {}
    plan = AblationPlan(
        recipe=resolve_repo_path(raw["recipe"]),
        seeds=[int(seed) for seed in raw["seeds"]],
        third_seed=int(third["seed"]) if "seed" in third else None,
        third_top=int(third.get("top", 0)),
        eval_sets=list(raw.get("eval_sets", ["Set5"])),
        variants={str(name): dict(network or {}) for name, network in raw["variants"].items()},
        main=[str(name) for name in raw["main"]],
        studies={str(title): {str(label): str(variant) for label, variant in settings.items()}
                 for title, settings in (raw.get("studies") or {}).items()},
        source=path,
    )
    named = plan.main + [variant for settings in plan.studies.values() for variant in settings.values()]
    unknown = sorted({name for name in named if name not in plan.variants})
    if unknown:
        raise OptionsError(f"{path}: {', '.join(unknown)} named but not declared under variants")
    if "Set5" not in plan.eval_sets:
        raise OptionsError(f"{path}: eval_sets must include Set5, the table's ranking")
    load_options(plan.recipe)  # a missing or malformed recipe fails here, not after the first run
    return plan


def read_rows(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["rows"] if path.is_file() else []


def read_costs(path: Path) -> dict[str, float]:
    """variant -> CPU ms of one forward, from bench_attention_cost.py's results (empty before it ran)."""
    return {row["variant"]: row["cpu_ms"] for row in read_rows(path)}


def write_rows(path: Path, rows: list[dict[str, Any]], meta: dict[str, Any], costs: dict[str, float]) -> None:
    """Write the rows (sorted by variant and seed) with the cost column filled, atomically."""
    for row in rows:
        row["cpu_ms"] = costs.get(row["variant"])
    rows = sorted(rows, key=lambda row: (row["variant"], row["seed"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # the runner and the cost benchmark may write at once
    tmp.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    tmp.replace(path)
