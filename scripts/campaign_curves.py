"""The SR training campaign on one page: Set5 PSNR against the core-hours behind each zoo model, per scale.

Reads the cards under models/ (their validations and, for x3/x4 models started from another model, the core-hours
of that lineage), so an x4 curve starts where its x2 body's training ended. SRCNN and VDSR (trained on the same
291 images, on GPUs) and FSRCNN (91 images + General-100, GPUs; the published numbers the field compares) are drawn
as the campaign's anchors.

    .venv/bin/python scripts/campaign_curves.py [--out docs/curves/campaign.png]
"""
from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from restore.figures import pyplot, save_figure
from restore.paths import REPO_ROOT

ANCHORS = {"SRCNN": {2: 36.66, 3: 32.75, 4: 30.48}, "FSRCNN": {2: 37.00, 3: 33.16, 4: 30.71},
           "VDSR": {2: 37.53, 3: 33.66, 4: 31.35}}
ANCHOR_STYLES = {"SRCNN": ":", "FSRCNN": "-.", "VDSR": "--"}
ARCH_COLOURS = {"rcan": "tab:blue", "san": "tab:orange", "rdn": "tab:green", "rnan": "tab:red"}
# Models that share an arch but not a shape get their own colour; a grown model's curve starts with its parent's.
MODEL_COLOURS = {"rcan-wide": "tab:purple", "rcan-no-attention": "tab:brown", "rcan-no-attention-wide": "tab:olive"}


def committed_cards(models: Path) -> dict[str, dict]:
    """Every SR card ever committed under ``models``, by the sha256 of the weights it describes (git history):
    a warm restart replaces its parent's card, and the curve still starts with the parent's validations."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=models, capture_output=True, text=True, check=True).stdout

    try:
        commits = git("log", "--format=%H", "--", ".").split()
    except (OSError, subprocess.CalledProcessError):
        return {}  # not a git checkout: each card draws its own run only
    prefix = git("rev-parse", "--show-prefix").strip()
    cards: dict[str, dict] = {}
    for commit in commits:
        for name in git("ls-tree", "--name-only", commit, "--", ".").split():
            if Path(name).match("*_x[0-9].json"):
                card = json.loads(git("show", f"{commit}:{prefix}{Path(name).name}"))
                cards.setdefault(card.get("sha256", ""), card)
    return cards


def _run_points(card: dict, history: dict[str, dict]) -> list[tuple[float, float]]:
    """(lineage core-hours, Set5) of a card's validations, after those of its same-scale ancestors."""
    training = card.get("training", {})
    parent_ref = training.get("started_from", {})
    offset = parent_ref.get("lineage_core_hours", 0.0)
    points = [(offset + v["core_hours"], v["Set5_psnr"]) for v in training.get("validations", [])]
    parent = history.get(parent_ref.get("sha256", ""))
    if parent is not None and parent.get("scale") == card.get("scale"):
        points = _run_points(parent, history) + points
    return points


def campaign_points(models: Path) -> list[dict]:
    """One entry per SR card with validations: arch, scale, name and (lineage core-hours, Set5 PSNR) points,
    warm restarts drawn after the runs they restarted."""
    history = committed_cards(models)
    runs = []
    for path in sorted(models.glob("*_x[0-9].json")):
        card = json.loads(path.read_text())
        if "validations" not in card.get("training", {}):
            continue
        runs.append({"name": path.stem, "model": card["name"], "arch": card["arch"], "scale": card["scale"],
                     "points": _run_points(card, history),
                     "final": card.get("metrics", {}).get("Set5", {}).get("psnr")})
    return runs


def plot(runs: list[dict], out: Path) -> Path:
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(13, 4), dpi=110)
    for axis, scale in zip(axes, (2, 3, 4)):
        for run in (r for r in runs if r["scale"] == scale):
            hours, psnr = zip(*run["points"])
            axis.plot(hours, psnr, marker="o", markersize=3, color=MODEL_COLOURS.get(run["model"], ARCH_COLOURS.get(run["arch"])), label=run["name"])
        for name, style in ANCHOR_STYLES.items():
            axis.axhline(ANCHORS[name][scale], color="grey", linestyle=style, linewidth=1)
            axis.annotate(name, (0, ANCHORS[name][scale]), xycoords=("axes fraction", "data"), fontsize=8,
                          color="grey", va="bottom")
        axis.set_title(f"x{scale}")
        axis.set_xlabel("core-hours in the lineage (x3/x4 include their x2 body)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="best")
    axes[0].set_ylabel("Set5 Y-PSNR (dB, EMA weights, fp32 validation)")
    return save_figure(figure, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "curves" / "campaign.png")
    args = parser.parse_args()
    runs = campaign_points(args.models)
    print(f"wrote {plot(runs, args.out)}")
    for run in sorted(runs, key=lambda r: (r["scale"], r["name"])):
        hours = run["points"][-1][0]
        print(f"{run['name']:<18} {hours:5.2f} core-hours in its lineage  Set5 {run['final']}")


if __name__ == "__main__":
    main()
