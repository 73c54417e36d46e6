"""The style campaign's held-out losses against the CPU core-hours behind each model.

Points come from two places: the style models committed over the campaign (``models/sanet-vgg16.safetensors``
at each listed git revision, with the lineage core-hours of its card) and the float16 snapshots that training
runs keep (``snapshot_every`` in a recipe; ``runs/<name>/snapshots``). Each is scored with the held-out
evaluation of ``restore train-style --evaluate`` (the paper's content and style losses on the recipe's
held-out pairs, the style loss against another pair's painting, the alpha-0 reconstruction). Scores are kept
in a JSON keyed by the model file's sha256, so re-running only measures new snapshots.

    .venv/bin/python scripts/style_heldout_curve.py --runs runs/sanet-vgg16 runs/sanet-vgg16_c192 \\
        [--cache benchmarks/results/style_heldout_curve.json] [--out docs/curves/sanet-vgg16_heldout.png]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from restore.figures import pyplot, save_figure
from restore.hashing import sha256_file
from restore.paths import REPO_ROOT, data_root
from restore.style.evaluate import held_out_losses, held_out_names, held_out_pairs
from restore.style.models import load_style_model
from restore.style.train import load_style_options

MODEL = "models/sanet-vgg16.safetensors"
# The committed models of the campaign, oldest first: (git revision, label).
COMMITTED = (
    ("aa582da", "first model (55 iterations)"),
    ("5dc5acb", "3,705 it, 64 px, lr 5e-4"),
    ("17524c8", "5,380 it, 64 px, lr 1e-4"),
    ("f00d5fb", "6,391 it, 128 px, normalised loss features"),
    ("11c78db", "7,084 it, then 192 px with a weight average"),
)
PANELS = (
    ("style_loss", "held-out style loss (lower is better)"),
    ("content_loss", "held-out content loss (lower is better)"),
    ("reconstruction_psnr", "alpha-0 reconstruction PSNR (dB)"),
)


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, check=True, capture_output=True).stdout


def committed_points(scratch: Path) -> list[dict]:
    """The committed models as files under ``scratch``, with their lineage iterations and core-hours."""
    points = []
    for revision, label in COMMITTED:
        card = json.loads(_git("show", f"{revision}:{MODEL[:-len('.safetensors')]}.json"))
        path = scratch / f"{revision}.safetensors"
        path.write_bytes(_git("show", f"{revision}:{MODEL}"))
        points.append({
            "series": "committed models",
            "label": label,
            "path": path,
            "iteration": card.get("total_iterations", card["iterations"]),
            # The first model's card predates core-hour counting: a 55-iteration recipe check, drawn at 0.
            "lineage_core_hours": card.get("total_core_hours", card.get("core_hours", 0.0)),
        })
    return points


def _series_name(run: str) -> str:
    """A run's name and, when its recipe (``options/<run>.yml``) is in the tree, its crop size."""
    recipe = REPO_ROOT / "options" / f"{run}.yml"
    crop = f", {load_style_options(recipe).data.crop}-px crops" if recipe.is_file() else ""
    return f"{run} snapshots{crop}"


def snapshot_points(run_dir: Path) -> list[dict]:
    """A run's snapshots with their lineage iterations and core-hours, one series per run."""
    points = []
    names: dict[str, str] = {}  # one recipe read per run, not per snapshot
    for path in sorted((run_dir / "snapshots").glob("iter_*.safetensors")):
        record = json.loads(path.with_suffix(".json").read_text())
        if record["run"] not in names:
            names[record["run"]] = _series_name(record["run"])
        points.append({"series": names[record["run"]], "label": path.stem, "path": path,
                       "iteration": record["lineage_iterations"],
                       "lineage_core_hours": record["lineage_core_hours"],
                       # Snapshots written before the run kept a weight average hold its raw weights.
                       "raw": record.get("weights", "raw") == "raw"})
    return points


def measure(points: list[dict], cache_path: Path, recipe: Path, root: Path) -> list[dict]:
    """Held-out scores of every point, from the cache where its file was measured before."""
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    options = load_style_options(recipe)
    pairs = held_out_pairs(*held_out_names(options.data.content, options.data.style, options.data.holdout_every, root))
    for point in points:
        digest = sha256_file(point["path"])
        if digest not in cache:
            scores = held_out_losses(load_style_model(point["path"]), root, pairs)
            cache[digest] = {"label": point["label"], "series": point["series"], **scores}
            print(f"{point['series']} {point['label']}: style {scores['style_loss']:.3f} "
                  f"content {scores['content_loss']:.3f} reconstruction {scores['reconstruction_psnr']:.2f} dB",
                  flush=True)
            cache_path.write_text(json.dumps(cache, indent=1) + "\n")
        point["scores"] = cache[digest]
    return points


def plot(points: list[dict], out: Path) -> Path:
    plt = pyplot()
    figure, axes = plt.subplots(1, len(PANELS), figsize=(13, 3.8), dpi=110)
    series = list(dict.fromkeys(point["series"] for point in points))
    for axis, (key, title) in zip(axes, PANELS):
        for name in series:
            members = sorted((p for p in points if p["series"] == name), key=lambda p: p["lineage_core_hours"])
            x = [p["lineage_core_hours"] for p in members]
            y = [p["scores"][key] for p in members]
            style = "o-" if name == "committed models" else ".-"
            (line,) = axis.plot(x, y, style, label=name, markersize=5)
            raw = [(px, py) for p, px, py in zip(members, x, y) if p.get("raw") and name != "committed models"]
            if raw:
                axis.plot(*zip(*raw), "o", markerfacecolor="white", color=line.get_color(), markersize=6)
        axis.set_xlabel("CPU core-hours behind the model (lineage)")
        axis.set_title(title, fontsize=9)
        axis.grid(alpha=0.3)
    # The first model's style loss (27) would flatten the others: the style panel is cut above the rest.
    cut = [p for p in points if p["scores"]["style_loss"] >= 15]
    others = [p["scores"]["style_loss"] for p in points if p["scores"]["style_loss"] < 15]
    if cut and others:
        axes[0].set_ylim(min(others) * 0.95, max(others) * 1.15)
        note = "; ".join(f"{p['label']}: {p['scores']['style_loss']:.1f}" for p in cut)
        axes[0].annotate(f"off the scale: {note}", xy=(0.02, 0.97), xycoords="axes fraction", va="top", fontsize=7)
    axes[1].legend(fontsize=7, title="hollow: raw weights (no moving average)", title_fontsize=7)
    figure.suptitle("SANet (VGG-16) on the CPU: held-out losses over the style campaign "
                    "(43 held-out pairs at 256 px; scripts/style_heldout_curve.py)", fontsize=9)
    return save_figure(figure, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", default=[], help="run folders whose snapshots to draw")
    parser.add_argument("--recipe", default="options/sanet-vgg16.yml", help="recipe whose held-out split to use")
    parser.add_argument("--cache", default="benchmarks/results/style_heldout_curve.json")
    parser.add_argument("--out", default="docs/curves/sanet-vgg16_heldout.png")
    parser.add_argument("--data-root", help="folder holding train/ and style/ (default: ../shared/datasets)")
    args = parser.parse_args()
    root = data_root(Path(args.data_root) if args.data_root else None)
    with tempfile.TemporaryDirectory() as scratch:
        points = committed_points(Path(scratch))
        for run in args.runs:
            points += snapshot_points(REPO_ROOT / run)
        measure(points, REPO_ROOT / args.cache, REPO_ROOT / args.recipe, root)
    print(f"wrote {plot(points, REPO_ROOT / args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
