"""The benchmark chart: PSNR against parameters and against time, one row per (dataset, scale).

Published PSNRs join the parameter panel for the architectures the zoo knows (their parameter counts
are those of the paper configurations); EDSR, which the zoo lacks, appears only in the summary table.
"""
from __future__ import annotations

import os
from pathlib import Path

from restore.evaluation.benchmark import BenchmarkRun, SetResult
from restore.evaluation.published import published_scores

__all__ = ["write_chart"]

# symlog keeps bicubic's 0 parameters on the axis beside networks of millions.
_LINEAR_THRESHOLD = 1e3


def _published_points(dataset: str, scale: int) -> list[tuple[str, int, float]]:
    from restore.archs import published_archs
    from restore.zoo import count_params

    points = []
    for row in published_scores(dataset, scale):
        arch = published_archs().get(row.method)
        if arch is not None:
            points.append((row.method, count_params(arch, scale), row.psnr))
    return points


def write_chart(run: BenchmarkRun, path: str | os.PathLike) -> Path:
    """Save the PNG to ``path``; matplotlib's Agg backend, so no display is needed."""
    from restore.figures import pyplot, save_figure

    plt = pyplot()
    pairs: dict[tuple[str, int], list[SetResult]] = {}
    for result in run.results:
        pairs.setdefault((result.dataset, result.scale), []).append(result)
    figure, axes = plt.subplots(len(pairs), 2, figsize=(11, 3.6 * len(pairs)), squeeze=False)
    for row, ((dataset, scale), measured) in enumerate(pairs.items()):
        by_params, by_time = axes[row]
        for index, (method, params, value) in enumerate(_published_points(dataset, scale)):
            by_params.scatter(params, value, marker="x", color="grey")
            # Staggered, because the large networks' points nearly coincide.
            by_params.annotate(f"{method} (paper)", (params, value), fontsize=7, color="grey",
                               xytext=(-60, -10 - 8 * (index % 4)), textcoords="offset points")
        for result in measured:
            by_params.scatter(result.params, result.psnr, marker="o")
            by_params.annotate(result.model, (result.params, result.psnr), fontsize=8,
                               xytext=(4, 4), textcoords="offset points")
            by_time.scatter(result.seconds_per_image, result.psnr, marker="o")
            by_time.annotate(result.model, (result.seconds_per_image, result.psnr), fontsize=8,
                             xytext=(4, 4), textcoords="offset points")
        by_params.set_xscale("symlog", linthresh=_LINEAR_THRESHOLD)
        by_params.set_xlabel("parameters")
        by_time.set_xlabel(f"seconds per image ({run.device})")
        for axis in (by_params, by_time):
            axis.set_ylabel("PSNR (dB, Y)")
            axis.set_title(f"{dataset} x{scale}")
            axis.grid(True, alpha=0.3)
    return save_figure(figure, Path(path), dpi=100, format="png")
