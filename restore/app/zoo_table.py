"""The zoo as the app shows it: the model menus and the Models tab, in ``restore zoo``'s order and ranking.

Both come from :mod:`restore.zoo` (:func:`~restore.zoo.ranked_models`, :func:`~restore.zoo.listing`), so the
app's default model, its menus and the CLI's listing cannot disagree.
"""
from __future__ import annotations

from typing import Any

from restore.datasets import BENCHMARK_SETS
from restore.zoo import format_params

__all__ = ["TABLE_SETS", "model_choices", "models_markdown"]

TABLE_SETS = BENCHMARK_SETS[:4]  # Set5, Set14, BSD100, Urban100: Manga109 (academic use only) is never measured


def model_choices(scale: int) -> list[tuple[str, str]]:
    """(label, name) of every model that runs at ``scale`` without a user-supplied checkpoint.

    Our trained models in the zoo's ranking (the default first), labelled with their Set5 PSNR
    ("rcan-compact x4 — Set5 30.52 dB"); bicubic, the baseline, last.
    """
    from restore.zoo import RANKING_SET, ranked_models

    choices = []
    for entry in ranked_models(scale):
        psnr = entry.metrics.get(RANKING_SET, {}).get("psnr")
        label = f"{entry.name} x{scale}" + (f" — {RANKING_SET} {psnr:.2f} dB" if psnr is not None else "")
        choices.append((label, entry.name))
    return choices + [("bicubic", "bicubic")]


def _weights_cell(row: dict[str, Any]) -> str:
    if row.get("needs_weights") is False:  # a baseline
        return "none needed"
    if row["card"] is None:
        return "bring your own"  # the note says: the authors' checkpoint, with --weights
    return "bundled" if row["bundled"] else "missing"


def _params_cell(params: int | None) -> str:
    return "–" if params is None else format_params(params)


def _metric_cell(metrics: dict, dataset: str, paper: tuple[float, float | None] | None) -> str:
    """The measured PSNR / SSIM on ``dataset``; for a paper configuration, the paper's, marked so."""
    value = metrics.get(dataset)
    if isinstance(value, dict) and isinstance(value.get("psnr"), (int, float)):
        psnr, ssim, origin = float(value["psnr"]), value.get("ssim"), ""
    elif paper is not None:
        (psnr, ssim), origin = paper, " (paper)"
    else:
        return "–"
    return f"{psnr:.2f}" + (f" / {ssim:.4f}" if isinstance(ssim, (int, float)) else "") + origin


def _name_cell(row: dict[str, Any]) -> str:
    return f"**{row['name']}**" + (" ★" if row["default"] and row["scale"] is not None and row["card"] else "")


def models_markdown() -> str:
    """Every shipped model as a Markdown table (bundled first, then the paper configurations), with notes."""
    from restore.evaluation.published import published_scores
    from restore.zoo import listing

    rows = listing(with_gflops=False)
    papers = {(row.method.lower(), row.dataset, row.scale): (row.psnr, row.ssim) for row in published_scores()}
    lines = ["| model | task | scale | arch | params | weights | " + " | ".join(TABLE_SETS) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(TABLE_SETS)]
    about: dict[str, str] = {}
    for row in rows:
        scale = f"x{row['scale']}" if row["scale"] is not None else "–"
        cells = [_name_cell(row), row["task"], scale, row["arch"], _params_cell(row["params"]), _weights_cell(row)]
        # Only the paper configurations borrow the papers' numbers; bicubic shows its own measurement.
        borrow = row["card"] is None and row.get("needs_weights") is not False
        cells += [_metric_cell(row["metrics"], name, papers.get((row["arch"], name, row["scale"])) if borrow else None)
                  for name in TABLE_SETS]
        lines.append("| " + " | ".join(cells) + " |")
        about.setdefault(row["name"], " ".join(str(row["description"]).split()))
    bicubic_papers = sorted((key[2], key[1], value[0]) for key, value in papers.items() if key[0] == "bicubic")
    paper_note = "; ".join(f"{name} x{scale} {psnr:.2f}" for scale, name, psnr in bicubic_papers)
    notes = [
        f"★ the default at its scale (`--model auto`): the best bundled model by Set5 PSNR. {len(rows)} entries.",
        "PSNR (dB) / SSIM on the Y channel under the papers' protocol: our cards' measurements; for bicubic, "
        "measured here (`restore bench --model bicubic`); for the paper configurations, the numbers their papers "
        "print (marked \"paper\"). `restore bench` re-measures any of them. The paper configurations run with "
        "the authors' checkpoints: `restore upscale --model rcan --weights RCAN_BIX4.pt`.",
    ]
    if paper_note:
        notes.append(f"The papers print bicubic as (dB): {paper_note}; their bicubic came from other pipelines, "
                     "so ours is the one to compare with.")
    described = [f"- **{name}**: {text}" for name, text in about.items() if text]
    return "\n".join([*lines, "", *notes, "", *described]) + "\n"
