"""The benchmark chart's labels: none overlaps another, every label and point sits inside its panel
(issue 18, item 8: the papers' RNAN/SAN labels overlapped, "bicubic (paper)" covered the tick labels)."""
from __future__ import annotations

import itertools

import pytest
from matplotlib.text import Text

from restore.evaluation.benchmark import BenchmarkRun, ImageScore, SetResult
from restore.evaluation.chart import chart_figure, write_chart


def _result(model: str, dataset: str, scale: int, params: int, psnr: float, seconds: float) -> SetResult:
    return SetResult(model=model, dataset=dataset, scale=scale, params=params,
                     images=[ImageScore(name="a", psnr=psnr, ssim=0.8, seconds=seconds)])


def _run(results: list[SetResult]) -> BenchmarkRun:
    return BenchmarkRun(results=results, absent={}, warnings=[], lpips_requested=False, lpips_note="", device="cpu",
                        self_ensemble=False, precision="fp32", total_seconds=1.0)


def _text_box(annotation, renderer):
    """The text's own box in pixels: an Annotation's extent also spans its leader line."""
    annotation.update_positions(renderer)
    return Text.get_window_extent(annotation, renderer)


# The crowded cases: Set5 x4 has the four papers' networks within 0.2 dB of each other, and bicubic at 0
# parameters; our models sit between.
RUNS = {
    "one model": [_result("bicubic", "Set5", 4, 0, 28.43, 0.01)],
    "the zoo at x4": [
        _result("bicubic", "Set5", 4, 0, 28.43, 0.01),
        _result("rcan-compact", "Set5", 4, 338_219, 30.52, 0.13),
        _result("rnan-compact", "Set5", 4, 535_099, 29.70, 1.9),
        _result("san-compact", "Set5", 4, 252_918, 29.47, 0.31),
        _result("rdn-compact", "Set5", 4, 488_131, 29.44, 0.2),
    ],
    "two sets": [
        _result("bicubic", "Set5", 2, 0, 33.67, 0.01),
        _result("rcan-compact", "Set5", 2, 301_227, 36.81, 0.1),
        _result("bicubic", "Set14", 4, 0, 26.09, 0.02),
        _result("rcan-compact", "Set14", 4, 338_219, 27.49, 0.3),
    ],
}


@pytest.mark.parametrize("case", RUNS)
def test_labels_do_not_overlap_and_stay_inside_their_panel(case: str) -> None:
    from restore.figures import pyplot

    figure = chart_figure(_run(RUNS[case]))
    renderer = figure.canvas.get_renderer()
    try:
        for axis in figure.axes:
            frame = axis.get_window_extent(renderer)
            boxes = [(text.get_text(), _text_box(text, renderer)) for text in axis.texts]
            assert boxes, "a panel without labels"
            for (name_a, a), (name_b, b) in itertools.combinations(boxes, 2):
                assert not a.overlaps(b), f"{case}: {name_a!r} overlaps {name_b!r}"
            for name, box in boxes:
                assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, \
                    f"{case}: {name!r} leaves its panel"
            for collection in axis.collections:
                for x, y in axis.transData.transform(collection.get_offsets()):
                    assert frame.x0 < x < frame.x1 and frame.y0 < y < frame.y1, f"{case}: a point on the edge"
    finally:
        pyplot().close(figure)


def test_the_chart_names_every_paper_network_at_set5_x4(tmp_path) -> None:
    from restore.figures import pyplot

    figure = chart_figure(_run(RUNS["the zoo at x4"]))
    texts = {text.get_text() for text in figure.axes[0].texts}
    pyplot().close(figure)
    assert {"RCAN (paper)", "RDN (paper)", "RNAN (paper)", "SAN (paper)", "bicubic (paper)", "rcan-compact"} <= texts
    path = write_chart(_run(RUNS["the zoo at x4"]), tmp_path / "chart.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
