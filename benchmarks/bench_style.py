"""Peak memory and time of ``restore.stylize`` on a 2048x2048 content with a 1024x1024 style, on the CPU.

Each case runs in a fresh subprocess; its peak resident memory is the child's ``ru_maxrss``, so the
figure includes Python, torch and the weights. Memory does not depend on weight values: without a
trained model the VGG-16 SANet runs with its initial transformer and decoder.

    .venv/bin/python benchmarks/bench_style.py            # writes benchmarks/results/style.json
    .venv/bin/python benchmarks/bench_style.py --content 1024 --style 512
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "style.json"

_CHILD = """
import sys, time, json
import numpy as np, torch
from restore.style.models import DEFAULT_STYLE_MODEL, load_style_model
from restore.style.build import build_sanet
from restore.style.stylize import stylize
content_side, style_side = int(sys.argv[1]), int(sys.argv[2])
trained = DEFAULT_STYLE_MODEL.is_file()
model = load_style_model() if trained else build_sanet("vgg16")
rng = np.random.default_rng(0)
def image(side):
    coarse = rng.integers(0, 256, size=(side // 16, side // 16, 3)).astype(np.uint8)
    return np.kron(coarse, np.ones((16, 16, 1), dtype=np.uint8))
content, style = image(content_side), image(style_side)
started = time.perf_counter()
output = stylize(content, style, model=model)
print(json.dumps({"seconds": time.perf_counter() - started, "output_shape": list(output.shape),
                  "trained_weights": trained, "threads": torch.get_num_threads()}))
"""


def measure(content_side: int, style_side: int) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, str(content_side), str(style_side)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    wall = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kib <= before:
        raise RuntimeError("ru_maxrss did not grow; run each case in a fresh benchmark process")
    child = json.loads(completed.stdout.strip().splitlines()[-1])
    return {
        "content": [content_side, content_side],
        "style": [style_side, style_side],
        "peak_rss_gib": round(peak_kib / 2**20, 3),
        "stylize_seconds": round(child["seconds"], 1),
        "process_seconds": round(wall, 1),
        **{key: child[key] for key in ("output_shape", "trained_weights", "threads")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=int, default=2048, help="content side in pixels")
    parser.add_argument("--style", type=int, default=1024, help="style side in pixels")
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args()
    result = measure(options.content, options.style)
    record = {
        "benchmark": "restore.stylize peak memory (CPU, float32, VGG-16 SANet)",
        "command": f"python benchmarks/bench_style.py --content {options.content} --style {options.style}",
        "machine": f"{platform.machine()} {platform.processor()}".strip(),
        "python": platform.python_version(),
        **result,
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
