"""Seams and border bands of ``restore.stylize`` at full size: a 2048x2048 content with the shipped model.

Stylizes a flat grey content and a photo (the app's lake example, centre square) in the style of Starry Night
over the Rhône (the issue's painting, from the app's examples), then checks every edge and every row where two
bands of the banded encoder or decoder meet with :func:`restore.style.seams.seam_checks`. A flat content must
also come out flat: its largest line jump is reported (0 when nothing varies). Exit status 1 when any place
is a seam. ``tests/test_style_seams.py`` runs the same function at a small size with small bands.

    .venv/bin/python benchmarks/check_style_seams.py        # 2048x2048, writes benchmarks/results/style_seams.json
    .venv/bin/python benchmarks/check_style_seams.py --size 512 --band-rows 64 --output /tmp/seams.json
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "style_seams.json"
EXAMPLES = ROOT / "restore" / "app" / "examples"
STYLE = EXAMPLES / "van_gogh_starry_night_over_the_rhone.jpg"
PHOTO = EXAMPLES / "photo_lake.jpg"
FLAT_LEVEL = 128


def contents(size: int) -> dict[str, np.ndarray]:
    """The two contents, ``size`` x ``size``: flat grey, and the photo's centre square resized (bicubic)."""
    from restore.io.image import read_image

    photo = read_image(PHOTO)
    side = min(photo.shape[:2])
    top, left = (photo.shape[0] - side) // 2, (photo.shape[1] - side) // 2
    square = Image.fromarray(photo[top:top + side, left:left + side]).resize((size, size), Image.BICUBIC)
    return {"flat": np.full((size, size, 3), FLAT_LEVEL, np.uint8), "photo": np.asarray(square)}


def check_style_seams(size: int = 2048, band_rows: int | None = None, style: Path = STYLE,
                      model: object = None) -> dict[str, object]:
    """Stylize each content at ``size`` with ``band_rows`` rows per band; the seam checks of each, as JSON."""
    from restore.io.image import read_image
    from restore.style.cost import sanet_seconds
    from restore.style.models import DEFAULT_STYLE_MODEL, load_style_model
    from restore.style.seams import line_jumps, seam_checks
    from restore.style.stylize import BAND_ROWS, band_joints, stylize

    band_rows = band_rows or BAND_ROWS
    network = model if model is not None else load_style_model()
    joints = band_joints(size, band_rows)
    # The app's time estimate for this job, to compare with the CPU-seconds measured here.
    estimate = sanet_seconds((size, size), [read_image(style).shape[:2]], band_rows=band_rows)
    report: dict[str, object] = {
        "size": size, "band_rows": band_rows, "style": style.name,
        "model": DEFAULT_STYLE_MODEL.name if model is None else "given",
        "joints": joints, "contents": {},
    }
    for name, content in contents(size).items():
        started = time.process_time()
        output = stylize(content, style, model=network, band_rows=band_rows)
        seconds = time.process_time() - started
        checks = seam_checks(output, joints["encoder"] + joints["decoder"], content=content)
        largest_jump = max(float(line_jumps(output, axis).max()) for axis in (0, 1))
        report["contents"][name] = {  # type: ignore[index]
            "seams": [check.where for check in checks if check.is_seam],
            "largest_line_jump": round(largest_jump, 3),
            "cpu_seconds": round(seconds, 1),
            "estimated_cpu_seconds_one_thread": round(estimate, 1),
            "checks": [{key: (round(value, 3) if isinstance(value, float) else value)
                        for key, value in check.as_dict().items()} for check in checks],
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="content side in pixels (default 2048)")
    parser.add_argument("--band-rows", type=int, default=None, help="rows per band (default: stylize's)")
    parser.add_argument("--style", type=Path, default=STYLE, help="the painting (default: Starry Night over the Rhône)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON report (default {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    import torch

    report = check_style_seams(args.size, args.band_rows, args.style)
    report["machine"] = {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads()}
    report["command"] = " ".join(["benchmarks/check_style_seams.py", *(argv if argv is not None else sys.argv[1:])])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    failed = False
    for name, result in report["contents"].items():  # type: ignore[union-attr]
        worst = max(result["checks"], key=lambda check: check["jump"] - check["limit"])
        print(f"{name}: {len(result['checks'])} places, seams: {', '.join(result['seams']) or 'none'}; "
              f"closest: {worst['where']} (jump {worst['jump']:.2f} against a limit of {worst['limit']:.2f}); "
              f"largest line jump {result['largest_line_jump']:.2f}; {result['cpu_seconds']:.0f} CPU-s "
              f"(estimated {result['estimated_cpu_seconds_one_thread']:.0f} on one thread)")
        failed |= bool(result["seams"])
    print(f"wrote {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
