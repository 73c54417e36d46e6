"""Export a training checkpoint into the model zoo: fp16 safetensors + a card with measured metrics.

The card's metrics are measured by ``restore.evaluation.run_benchmark`` on the exported fp16 file itself
(not on the fp32 training weights), so ``restore bench`` on a fresh clone reproduces them exactly.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from restore.errors import RestoreError
from restore.paths import REPO_ROOT
from restore.training.card import render_card as render_markdown_card
from restore.training.core import read_checkpoint_file, read_log
from restore.training.hardware import describe_hardware
from restore.zoo import count_gflops, count_params, models_dir, sha256_file

# Urban100 too: its 100 HR images are under ../shared since issue 18, and the papers report it.
CARD_DATASETS = ("Set5", "Set14", "B100", "Urban100")
CURVES_DIR = REPO_ROOT / "docs" / "curves"  # where learning curves go unless the caller names a folder
MIN_IMPROVEMENT_DB = 0.02  # a committed model is replaced only by one at least this much better on Set5


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A `restore train` checkpoint, or a GPU campaign's card (or one of its weight files) read as one."""
    path = Path(path)
    if path.suffix in (".json", ".safetensors"):
        return read_campaign_card(path)
    state = read_checkpoint_file(path)
    if not isinstance(state, dict) or "model" not in state or "arch" not in state:
        raise RestoreError(f"{path} is not a restore training checkpoint (no model/arch entries)")
    return state


def read_campaign_card(path: Path) -> dict[str, Any]:
    """What scripts/gpu_campaign.sh returned (``<stem>.json`` + float16 shards), in a checkpoint's shape.

    ``path`` is the card or any of its weight files (``<stem>.safetensors``, ``<stem>-00001-of-00002.safetensors``).
    The card's lineage, data and validations travel with the state: the machine that trained it is gone.
    """
    from restore.training.shards import load_shards

    stem = re.sub(r"-\d{5}-of-\d{5}$", "", path.stem)  # a shard's name: <stem>-00001-of-00002
    card_path = path.with_name(f"{stem}.json")
    if not card_path.is_file():
        raise RestoreError(f"{path}: no campaign card {card_path.name} beside it (scripts/gpu_campaign.sh writes one)")
    card = json.loads(card_path.read_text())
    training = card.get("training", {})
    if "campaign" not in training or "shards" not in card:
        raise RestoreError(f"{card_path} is not a GPU campaign card (no training.campaign or shards)")
    weights = load_shards(card_path)
    return {
        "model": weights,
        "ema": weights if training.get("weights_exported") == "EMA" else None,
        "arch": card["arch"],
        "scale": card["scale"],
        "network": json.dumps(card["config"]),
        "iteration": training["iterations"],
        "wall_seconds": training["wall_hours"] * 3600,
        "cpu_seconds": training["core_hours"] * 3600,
        "options_file": str(REPO_ROOT / training["recipe"]),
        "hardware": training["hardware"],
        "started_from": training.get("started_from"),
        "data": training["data"],
        "summary": card.get("summary"),
        "validations": training.get("validations", []),
    }


def learning_curve(run_dir: Path, val_key: str = "Set5_psnr") -> list[tuple[float, int, float]]:
    """(core-hours, iteration, PSNR) of every validation in the run's log."""
    return [(record.get("core_hours", record["hours"]), record["iteration"], record[val_key])
            for record in read_log(run_dir) if val_key in record]


def plot_learning_curve(points: list[tuple[float, int, float]], title: str, path: Path) -> Path:
    from restore.figures import pyplot, save_figure

    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.6), dpi=120)
    axis.plot([p[0] for p in points], [p[2] for p in points], marker="o", markersize=3)
    axis.set_xlabel("training CPU core-hours (process CPU time)")
    axis.set_ylabel("Set5 Y-PSNR (dB, EMA weights)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    return save_figure(figure, path)


def export_checkpoint(
    checkpoint: str | Path,
    name: str,
    scale: int | None = None,
    *,
    recipe: str | None = None,
    summary: str = "",
    benchmark: bool = True,
    self_ensemble_too: bool = False,
    force: bool = False,
    timing_note: str = "",
    curves_dir: Path | None = None,
    datasets: tuple[str, ...] = CARD_DATASETS,
    log: Callable[[str], None] = print,
) -> Path:
    """Write ``models/<name>_x<scale>.safetensors`` (fp16, EMA weights when present) and its card."""
    from safetensors.torch import save_file

    if benchmark and "Set5" not in datasets:
        raise RestoreError("the card's datasets must include Set5: it decides whether a model replaces another")
    state = read_checkpoint(checkpoint)
    arch, ckpt_scale = state["arch"], int(state["scale"])
    if scale is not None and scale != ckpt_scale:
        raise RestoreError(f"{checkpoint} holds an x{ckpt_scale} model, not x{scale}")
    config = json.loads(state["network"])
    weights = state["ema"] if state.get("ema") is not None else state["model"]
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    stem = f"{name}_x{ckpt_scale}"
    card_path, weights_path = root / f"{stem}.json", root / f"{stem}.safetensors"
    previous = json.loads(card_path.read_text()) if card_path.exists() else None
    # Read before the new weights are written: a warm restart starts from the very file it replaces. A campaign
    # card says what its run started from (its stages override the recipe's init_from).
    parent = state["started_from"] if "started_from" in state else started_from(state.get("options_file"))
    if isinstance(parent, str):  # a checkpoint keeps the trainer's record as JSON; a campaign card as a dict
        parent = json.loads(parent)
    previous_psnr = (previous or {}).get("metrics", {}).get("Set5", {}).get("psnr")
    if not benchmark and previous_psnr is not None and not force:
        # Without a measurement there is no evidence the new weights are better than the measured ones.
        raise RestoreError(
            f"{stem}: the committed model is measured (Set5 {previous_psnr:.3f} dB); an export without the "
            "benchmark cannot show it is better: export with the benchmark, or use --force"
        )

    # The previous model, its card and its learning curve stay recoverable until the new one is measured and accepted.
    curve_path = (curves_dir or CURVES_DIR) / f"{stem}.png"
    replaced = (card_path, weights_path, curve_path)
    backups = {path: path.read_bytes() for path in replaced if path.exists()}
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in weights.items()}, str(weights_path))
    hours = float(state["wall_seconds"]) / 3600
    run_dir = Path(checkpoint).resolve().parent
    config_json = json.dumps(config, sort_keys=True)
    card: dict[str, Any] = {
        "name": name,
        "arch": arch,
        "scale": ckpt_scale,
        "config": config,
        "weights": weights_path.name,
        "sha256": sha256_file(weights_path),
        "dtype": "float16",
        "params": count_params(arch, ckpt_scale, config_json),
        "gflops_256": round(count_gflops(arch, ckpt_scale, config_json), 3),
        "summary": summary or state.get("summary")
        or f"compact {arch.upper()} x{ckpt_scale} trained by restore on the CPU",
        "training": {
            "recipe": recipe or _repo_relative(state.get("options_file")),
            "data": state.get("data")
            or "../shared/datasets/train: T91 + BSD200 (the 291) + 124 licensed photos; no benchmark set",
            "iterations": int(state["iteration"]),
            "wall_hours": round(hours, 3),
            "core_hours": round(float(state.get("cpu_seconds", 0.0)) / 3600, 3),
            # Recorded by the trainer; checkpoints from before it did so fall back to this machine's description.
            "hardware": state.get("hardware") or describe_hardware(),
            "weights_exported": "EMA" if state.get("ema") is not None else "raw",
            "exported": time.strftime("%Y-%m-%d"),
        },
        "metrics": {},
    }
    if timing_note:
        card["timing_note"] = timing_note
    if parent:
        card["training"]["started_from"] = parent
        card["training"]["lineage_core_hours"] = round(parent["lineage_core_hours"] + card["training"]["core_hours"], 3)
    points = learning_curve(run_dir) or [(v["core_hours"], v["iteration"], v["Set5_psnr"])
                                         for v in state.get("validations", []) if "Set5_psnr" in v]
    if points:
        curve = plot_learning_curve(points, f"{name} x{ckpt_scale}", curve_path)
        card["training"]["learning_curve"] = _repo_relative(str(curve))
        card["training"]["validations"] = [{"core_hours": round(h, 4), "iteration": i, "Set5_psnr": round(p, 4)}
                                           for h, i, p in points]
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    try:
        if benchmark:
            def refuse_unless_better(new_psnr: float) -> None:
                if previous_psnr is not None and new_psnr < previous_psnr + MIN_IMPROVEMENT_DB and not force:
                    raise RestoreError(
                        f"{stem}: Set5 {new_psnr:.3f} dB does not beat the committed {previous_psnr:.3f} dB by "
                        f"{MIN_IMPROVEMENT_DB} dB; kept the committed model (use --force to replace it anyway)"
                    )

            card["metrics"] = _measure(name, ckpt_scale, datasets, self_ensemble_too, log, refuse_unless_better)
    except BaseException:
        for path in replaced:
            if path in backups:
                path.write_bytes(backups[path])
            else:
                path.unlink(missing_ok=True)
        raise
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    (root / f"{stem}.md").write_text(render_card(card))
    log(f"exported {weights_path} ({weights_path.stat().st_size / 1e6:.2f} MB) and {card_path}")
    return card_path


def started_from(recipe: str | None) -> dict[str, Any] | None:
    """The zoo model a run was initialised from (its recipe's ``train.init_from``) and the core-hours behind it,
    for checkpoints written before the trainer recorded it.

    Read from that model's card as it is now; ``None`` for a run from scratch, a recipe that is gone, or a start
    that is not a carded zoo model. When that card says the model came from this same recipe, it is an earlier
    export of this run (a warm restart exported mid-cycle replaces the file the run started from), so the run's
    parent is that export's parent, not the export.
    """
    from restore.training.options import load_options, resolve_repo_path

    if not recipe or not Path(recipe).is_file():
        return None
    init_from = load_options(recipe).train.init_from
    if not init_from:
        return None
    init_path = resolve_repo_path(init_from)
    training = _card_training(init_path)
    if training is None:
        return None
    if _repo_relative(training.get("recipe")) == _repo_relative(recipe):
        return training.get("started_from")
    return _parent_record(init_path, training)


def zoo_parent(weights: Path) -> dict[str, Any] | None:
    """``weights`` (a carded zoo model) with its sha256 and the core-hours behind it; ``None`` if it has no card."""
    training = _card_training(weights)
    return None if training is None else _parent_record(weights, training)


def _card_training(weights: Path) -> dict[str, Any] | None:
    """The ``training`` part of the card beside ``weights``; ``None`` when the file or its card is missing."""
    card_path = weights.with_suffix(".json")
    if not (weights.is_file() and card_path.is_file()):
        return None
    return json.loads(card_path.read_text()).get("training", {})


def _parent_record(weights: Path, training: dict[str, Any]) -> dict[str, Any]:
    return {
        "weights": _repo_relative(str(weights)),
        "sha256": sha256_file(weights),
        "core_hours": training.get("core_hours", 0.0),
        "lineage_core_hours": training.get("lineage_core_hours", training.get("core_hours", 0.0)),
    }


def _repo_relative(path: str | None) -> str | None:
    if not path:
        return None
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(path)


def _measure(name: str, scale: int, datasets: tuple[str, ...], ensemble: bool, log,
             accept_set5: Callable[[float], None]) -> dict:
    """Benchmark the exported fp16 file through the zoo, exactly as `restore bench` will.

    Set5 comes first and its PSNR goes through ``accept_set5`` (which raises to refuse the model) before anything
    else is measured: a refused export costs seconds, not the other sets and the eight-fold self-ensemble.
    """
    from restore.evaluation import run_benchmark

    ordered = ["Set5"] + [dataset for dataset in datasets if dataset != "Set5"]
    metrics: dict[str, Any] = {}
    for suffix, self_ensemble in [("", False)] + ([("_x8", True)] if ensemble else []):
        for dataset in ordered:
            result, = run_benchmark([name], [scale], [dataset], self_ensemble=self_ensemble).results
            row = metrics.setdefault(result.dataset, {})
            row[f"psnr{suffix}"] = round(result.psnr, 4)
            row[f"ssim{suffix}"] = round(result.ssim, 5)
            if not suffix:
                row["seconds_per_image"] = round(result.seconds_per_image, 4)
            log(f"{name} x{scale} {result.dataset}{' (self-ensemble)' if self_ensemble else ''}: "
                f"{result.psnr:.3f} dB / {result.ssim:.4f}")
            if dataset == "Set5" and not self_ensemble:
                accept_set5(result.psnr)
    return metrics


def render_card(card: dict[str, Any]) -> str:
    """The human-readable card beside the JSON one."""
    training, metrics = card["training"], card["metrics"]
    rows = [
        ("arch", card["arch"]),
        ("config", f"`{json.dumps(card['config'])}`"),
        ("parameters", f"{card['params']:,}"),
        ("GFLOPs (256x256 LR)", card["gflops_256"]),
        ("weights", f"`{card['weights']}` ({card['dtype']}, sha256 `{card['sha256']}`)"),
        ("recipe", f"`{training.get('recipe')}`"),
        ("training data", training["data"]),
        ("iterations", f"{training['iterations']:,}"),
        ("training time", f"{training['core_hours']} CPU core-hours ({training['wall_hours']} h wall) on "
                          f"{training['hardware']}"),
    ]
    if training.get("started_from"):
        parent = training["started_from"]
        rows.append(("started from", f"`{parent['weights']}` ({parent['lineage_core_hours']} core-hours behind it; "
                                     f"{training['lineage_core_hours']} in all)"))
    rows.append(("exported", f"{training['weights_exported']} weights, {training['exported']}"))
    sections = []
    if metrics:
        has_x8 = any("psnr_x8" in row for row in metrics.values())
        header = "| dataset | PSNR | SSIM | s/image (CPU) |" + (" PSNR x8 | SSIM x8 |" if has_x8 else "")
        table = [header, "|---" * (header.count("|") - 1) + "|"]
        for dataset, row in metrics.items():
            cells = f"| {dataset} | {row['psnr']:.2f} | {row['ssim']:.4f} | {row['seconds_per_image']:.3f} |"
            if has_x8:
                cells += f" {row.get('psnr_x8', float('nan')):.2f} | {row.get('ssim_x8', float('nan')):.4f} |"
            table.append(cells)
        sections.append(["Measured by `restore bench` on these fp16 weights (Y-PSNR / SSIM, crop = scale, MATLAB LR):",
                         "", *table])
    if card.get("timing_note"):
        sections.append([card["timing_note"]])
    if training.get("learning_curve"):
        sections.append([f"Learning curve: `{training['learning_curve']}`"])
    return render_markdown_card(f"{card['name']} x{card['scale']}", [card["summary"]], rows, sections)
