"""The per-megapixel costs behind the app's style-time estimate (``restore/style/cost.py``), measured once.

CPU-seconds (``time.process_time``) on one thread, the median of ``--repeats`` runs of each part: the SANet
encoder on a 512x512 image, the decoder writing 512x512 pixels, the style attention of a 512x512 content on a
512x512 style, and one optimize loss evaluation (VGG-16 forward + backward, the content and style losses) at
256x256. Weights do not change the cost, so the networks run with their initial weights (no download). The
evaluations per L-BFGS iteration come from a short ``optimize_stylize`` run. At the end the estimate is checked
against one whole ``stylize`` and one ``optimize_stylize`` of other sizes.

    .venv/bin/python benchmarks/bench_style_cost.py        # writes restore/data/style_cost.json
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "restore" / "data" / "style_cost.json"


def cpu_seconds(work: Callable[[], object], repeats: int) -> float:
    """Median CPU-seconds of ``work`` after one warm-up run."""
    work()
    times = []
    for _ in range(repeats):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return statistics.median(times)


def _image(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def measure(repeats: int) -> dict[str, object]:
    from restore.style import losses
    from restore.style.build import build_sanet
    from restore.style.optimize import optimize_stylize
    from restore.style.stylize import stylize

    network = build_sanet("vgg16", encoder_weights=False).eval()
    side = 512
    megapixels = side * side / 1e6
    image = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        taps = network.encode(image, (3, 4))
        features = network.transform(taps, taps)
        encoder = cpu_seconds(lambda: network.encode(image, (3, 4)), repeats) / megapixels
        decoder = cpu_seconds(lambda: network.decoder(features[..., : side // 8, : side // 8]), repeats) / megapixels
        attention = cpu_seconds(lambda: network.transform(taps, taps), repeats) / megapixels**2

    small = 256
    pixels = torch.rand(1, 3, small, small, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        targets = network.encoder.taps(torch.rand(1, 3, small, small, generator=torch.Generator().manual_seed(2)))
        style_targets = losses.style_statistics(targets)

    def evaluation() -> None:
        variable = pixels.clone().requires_grad_(True)
        found = network.encoder.taps(variable)
        loss = losses.content_loss(found, targets) + losses.style_distance(losses.style_statistics(found), style_targets)
        loss.backward()

    evaluation_cost = cpu_seconds(evaluation, repeats) / (small * small / 1e6)

    calls = []
    iterations = (20, 10)
    optimize_stylize(_image(96, 128, 3), _image(96, 96, 4), size=256, iterations=iterations,
                     encoder=network.encoder, progress=lambda done, total: calls.append(done))
    scales = 2  # 128 and 256: each scale ends with one more progress call than it made evaluations
    per_iteration = (len(calls) - scales) / (iterations[0] + iterations[1])

    record: dict[str, object] = {
        "about": "CPU-seconds on one thread behind the style-time estimate (restore/style/cost.py)",
        "sanet": {
            "encoder_cpu_seconds_per_megapixel": round(encoder, 3),
            "decoder_cpu_seconds_per_megapixel": round(decoder, 3),
            "attention_cpu_seconds_per_megapixel_squared": round(attention, 3),
        },
        "optimize": {
            "evaluation_cpu_seconds_per_megapixel": round(evaluation_cost, 3),
            "evaluations_per_iteration": round(per_iteration, 3),
        },
    }
    checks = []
    from restore.style.cost import StyleCost, optimize_seconds, sanet_seconds

    cost = StyleCost(encoder, decoder, attention, evaluation_cost, per_iteration)
    content, style = _image(384, 640, 5), _image(300, 400, 6)
    started = time.process_time()
    stylize(content, style, alpha=0.8, model=network)
    checks.append({"run": "stylize 640x384 content, 400x300 style, alpha 0.8",
                   "estimated": round(sanet_seconds((384, 640), [(300, 400)], 0.8, cost=cost), 1),
                   "measured": round(time.process_time() - started, 1)})
    started = time.process_time()
    optimize_stylize(content, style, size=320, iterations=(30, 10), encoder=network.encoder)
    checks.append({"run": "optimize_stylize 640x384 content at 320, iterations 30,10",
                   "estimated": round(optimize_seconds((384, 640), 320, (30, 10), cost=cost), 1),
                   "measured": round(time.process_time() - started, 1)})
    record["checks"] = checks
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--note", default="", help="what else ran on the machine (said in the record)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    record = measure(args.repeats)
    summary = f"{platform.machine()} {platform.processor() or platform.system()}, one thread"
    record["machine"] = {"summary": summary + (f"; {args.note}" if args.note else ""),
                         "platform": platform.platform(), "torch": torch.__version__}
    record["measured"] = date.today().isoformat()
    record["command"] = shlex.join([".venv/bin/python", "benchmarks/bench_style_cost.py",
                                    *(argv if argv is not None else sys.argv[1:])])
    args.output.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(record, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
