"""The benchmark chart: PSNR against parameters and against time, one row per (dataset, scale).

Published PSNRs join the parameter panel for the architectures the zoo knows (their parameter counts
are those of the paper configurations); EDSR, which the zoo lacks, appears only in the summary table.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from restore.evaluation.benchmark import BenchmarkRun, SetResult
from restore.evaluation.published import published_scores

__all__ = ["chart_figure", "write_chart"]

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


def _parameter_axis(axis, params: list[float]) -> None:
    """Symlog parameters: 0 (bicubic) and powers of ten from 10^3, with room either side of the points."""
    from matplotlib.ticker import FixedLocator, NullLocator

    top = max(1 + int(math.log10(max(max(params), _LINEAR_THRESHOLD))), 4)
    axis.set_xscale("symlog", linthresh=_LINEAR_THRESHOLD)
    axis.xaxis.set_major_locator(FixedLocator([0.0] + [10.0 ** power for power in range(3, top + 1)]))
    axis.xaxis.set_minor_locator(NullLocator())
    axis.set_xlim(-0.3 * _LINEAR_THRESHOLD, 10.0 ** (top + 0.3))
    axis.set_xlabel("parameters")


def chart_figure(run: BenchmarkRun):
    """The chart as a matplotlib Figure, laid out, its labels placed without overlap."""
    from restore.evaluation.labels import PointLabel, place_labels
    from restore.figures import pyplot

    plt = pyplot()
    pairs: dict[tuple[str, int], list[SetResult]] = {}
    for result in run.results:
        pairs.setdefault((result.dataset, result.scale), []).append(result)
    figure, axes = plt.subplots(len(pairs), 2, figsize=(12, 4.2 * len(pairs)), squeeze=False)
    labels: list[tuple[object, list[PointLabel]]] = []
    for row, ((dataset, scale), measured) in enumerate(pairs.items()):
        by_params, by_time = axes[row]
        params_labels, time_labels = [], []
        for method, params, value in _published_points(dataset, scale):
            by_params.scatter(params, value, marker="x", color="grey")
            params_labels.append(PointLabel(f"{method} (paper)", params, value, {"fontsize": 7, "color": "dimgrey"}))
        for result in measured:
            by_params.scatter(result.params, result.psnr, marker="o")
            params_labels.append(PointLabel(result.model, result.params, result.psnr, {"fontsize": 8}))
            by_time.scatter(result.seconds_per_image, result.psnr, marker="o")
            time_labels.append(PointLabel(result.model, result.seconds_per_image, result.psnr, {"fontsize": 8}))
        _parameter_axis(by_params, [point.x for point in params_labels])
        by_time.set_xlabel(f"seconds per image ({run.device})")
        for axis in (by_params, by_time):
            # Room around the points, so every point and its label sit inside the frame.
            axis.margins(y=0.3, **({} if axis is by_params else {"x": 0.25}))
            axis.set_ylabel("PSNR (dB, Y)")
            axis.set_title(f"{dataset} x{scale}")
            axis.grid(True, alpha=0.3)
        labels += [(by_params, params_labels), (by_time, time_labels)]
    figure.tight_layout()
    figure.canvas.draw()  # final limits and layout: label positions are computed in pixels
    for axis, axis_labels in labels:
        place_labels(axis, axis_labels)
    return figure


def write_chart(run: BenchmarkRun, path: str | os.PathLike) -> Path:
    """Save the PNG to ``path``; matplotlib's Agg backend, so no display is needed."""
    from restore.figures import pyplot

    figure = chart_figure(run)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # No second tight_layout: the labels were placed for this layout.
    figure.savefig(path, dpi=100, format="png")
    pyplot().close(figure)
    return path
