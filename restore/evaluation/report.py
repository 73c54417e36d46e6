"""Benchmark reports: JSON, per-image CSV, and a Markdown summary beside the papers' published numbers."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from restore.errors import DataError
from restore.evaluation.benchmark import PROTOCOL, BenchmarkRun, SetResult
from restore.evaluation.published import published_gaps, published_notes, published_scores, published_sources
from restore.io.atomic import atomic_writer
from restore.io.strict_json import strict_dumps
from restore.zoo import format_params

__all__ = ["write_json", "write_csv", "write_summary", "write_report", "summary_markdown"]

CSV_COLUMNS = ("model", "dataset", "scale", "image", "psnr", "ssim", "lpips", "seconds", "params")
SUMMARY_NAME, JSON_NAME, CSV_NAME, CHART_NAME = "summary.md", "results.json", "images.csv", "psnr_vs_cost.png"


def _write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    if not path.parent.is_dir():
        raise DataError(f"{path}: folder {path.parent} does not exist")
    with atomic_writer(path) as stream:
        stream.write(text.encode("utf-8"))
    return path


def write_json(run: BenchmarkRun, path: str | os.PathLike) -> Path:
    return _write_text(path, strict_dumps(run.to_json(), indent=2) + "\n")


def write_csv(run: BenchmarkRun, path: str | os.PathLike) -> Path:
    """One row per (model, dataset, scale, image); lpips empty where it was not computed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for result in run.results:
        for image in result.images:
            lpips = "" if image.lpips is None else f"{image.lpips:.6f}"
            writer.writerow([result.model, result.dataset, result.scale, image.name, f"{image.psnr:.6f}",
                             f"{image.ssim:.6f}", lpips, f"{image.seconds:.6f}", result.params])
    return _write_text(path, buffer.getvalue())


def _measured_table(run: BenchmarkRun) -> list[str]:
    lpips_header = " LPIPS |" if run.lpips_computed else ""
    lines = [f"| model | dataset | scale | PSNR | SSIM |{lpips_header} params | s / image | total s |",
             "|---|---|---|---|---|" + ("---|" if run.lpips_computed else "") + "---|---|---|"]
    for result in run.results:
        lpips_cell = f" {result.lpips:.4f} |" if run.lpips_computed else ""
        lines.append(f"| {result.model} | {result.dataset} | x{result.scale} | {result.psnr:.2f} | {result.ssim:.4f} |"
                     f"{lpips_cell} {format_params(result.params)} | {result.seconds_per_image:.3f} | "
                     f"{result.seconds:.2f} |")
    return lines


def _comparison_table(dataset: str, scale: int, measured: list[SetResult]) -> list[str]:
    sources = published_sources()
    lines = [f"### {dataset} x{scale}", "", "| method | PSNR | SSIM | from |", "|---|---|---|---|"]
    for result in measured:
        lines.append(f"| **{result.model}** (measured here) | **{result.psnr:.2f}** | **{result.ssim:.4f}** "
                     "| this run |")
    rows = sorted(published_scores(dataset, scale), key=lambda row: row.psnr)
    for row in rows:
        ssim = "–" if row.ssim is None else f"{row.ssim:.4f}"
        lines.append(f"| {row.method} (published) | {row.psnr:.2f} | {ssim} | {sources[row.source]['cite']} |")
    if not rows:
        lines.append("| (no published numbers recorded for this set and scale) | | | |")
    if dataset == "Set14" and any(row.method == "bicubic" for row in rows):
        lines += ["", "The published bicubic Set14 row came from another pipeline than this protocol's; "
                  "both are shown (see the notes)."]
    return lines + [""]


def summary_markdown(run: BenchmarkRun, chart_name: str | None = CHART_NAME, command: str | None = None) -> str:
    """The Markdown summary: convention, measured table, published numbers side by side, notes."""
    lines = ["# Benchmark summary", "", f"**Convention:** {PROTOCOL}.", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [f"Device: {run.device}; precision {run.precision}; self-ensemble {'on' if run.self_ensemble else 'off'}; "
              f"total runtime {run.total_seconds:.1f} s (data loading and scoring included).", ""]
    if run.absent:
        lines += ["## Sets not run (absent)", ""]
        lines += [f"- {message}" for message in run.absent.values()]
        lines.append("")
    lines += ["## Measured", ""] + _measured_table(run) + [""]
    lines.append("LPIPS (AlexNet, RGB): computed." if run.lpips_computed else f"{run.lpips_note}.".replace("..", "."))
    lines.append("")
    if chart_name:
        lines += [f"![PSNR against parameters and time]({chart_name})", ""]
    lines += ["## Beside the published numbers", "",
              "Published rows are PSNR/SSIM as printed in the papers (BI degradation); every row names its "
              "source. Cells that could not be found in a source are left out, never guessed.", ""]
    pairs: dict[tuple[str, int], list[SetResult]] = {}
    for result in run.results:
        pairs.setdefault((result.dataset, result.scale), []).append(result)
    for (dataset, scale), measured in pairs.items():
        lines += _comparison_table(dataset, scale, measured)
    lines += ["## Notes", ""]
    lines += [f"- **{topic}**: {note}" for topic, note in published_notes().items()]
    lines += [f"- Not found in any source, so not shown: {', '.join(published_gaps())}."]
    lines += ["- Sources:"]
    lines += [f"  - {source['cite']}: {source['paper']}; {source['table']}; read in {source['found_in']}."
              for key, source in published_sources().items()]
    if run.warnings:
        lines += ["", "## Warnings", ""] + [f"- {warning}" for warning in run.warnings]
    return "\n".join(lines) + "\n"


def write_summary(run: BenchmarkRun, path: str | os.PathLike, chart_name: str | None = CHART_NAME,
                  command: str | None = None) -> Path:
    return _write_text(path, summary_markdown(run, chart_name, command))


def write_report(run: BenchmarkRun, folder: str | os.PathLike, command: str | None = None) -> dict[str, Path]:
    """Write summary.md, results.json, images.csv and the chart into ``folder`` (created if needed)."""
    from restore.evaluation.chart import write_chart

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"--report {folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "chart": write_chart(run, folder / CHART_NAME),
        "summary": write_summary(run, folder / SUMMARY_NAME, CHART_NAME, command),
        "json": write_json(run, folder / JSON_NAME),
        "csv": write_csv(run, folder / CSV_NAME),
    }
