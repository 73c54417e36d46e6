"""Images per second of ``restore upscale`` on 1 and 2 CPU ranks (torchrun), for docs/scaling.md's table.

One folder of ``--images`` random ``--size`` x ``--size`` photos is upscaled by ``torchrun --standalone
--nproc_per_node=K -m restore upscale ... --overwrite`` for each K of ``--ranks``. Each rank gets
``cores // K`` threads (restore.distributed splits the cores), so every row uses the same cores. A launch
costs seconds of its own (Python and torch imports, the model, the rendezvous), so each row also times the
same command without ``--overwrite``, which does all of that and skips every image, and reports

    images/s = images / (time of the full run - time of the all-skipped run)

The fastest of ``--rounds`` rounds is kept (least disturbed by other processes). Run it on an idle machine:

    .venv/bin/python benchmarks/bench_scaling.py [--images 24] [--size 96] [--model rcan-compact] [--scale 4]

Writes ``benchmarks/results/scaling.json`` and prints the Markdown rows for docs/scaling.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "scaling.json"
TORCHRUN = REPO / ".venv" / "bin" / "torchrun"


def make_photos(folder: Path, count: int, size: int) -> None:
    """Smooth random pictures (noise blurred by upsampling), so that PNG sizes resemble photos'."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        coarse = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((size, size), Image.BICUBIC).save(folder / f"photo{i:04d}.png")


def timed_launch(ranks: int, photos: Path, out: Path, model: str, scale: int, device: str, overwrite: bool) -> float:
    command = [str(TORCHRUN), "--standalone", f"--nproc_per_node={ranks}", "-m", "restore", "upscale",
               str(photos), "-o", str(out), "--model", model, "--scale", str(scale), "--device", device, "-q"]
    if overwrite:
        command.append("--overwrite")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", type=int, default=96, help="input side in pixels")
    parser.add_argument("--model", default="rcan-compact")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--ranks", default="1,2", help="comma-separated process counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu, or auto for one GPU per rank (cuda:LOCAL_RANK)")
    parser.add_argument("--note", default="", help="what else ran on the machine")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        photos, out = Path(scratch) / "photos", Path(scratch) / "out"
        make_photos(photos, args.images, args.size)
        # Once untimed: the file cache warm and every output present, as the all-skipped runs need.
        timed_launch(1, photos, out, args.model, args.scale, args.device, overwrite=True)
        for ranks in (int(item) for item in args.ranks.split(",")):
            best = None
            for _ in range(args.rounds):
                full = timed_launch(ranks, photos, out, args.model, args.scale, args.device, overwrite=True)
                startup = timed_launch(ranks, photos, out, args.model, args.scale, args.device, overwrite=False)
                work = max(full - startup, 1e-9)
                if best is None or work < best["work_seconds"]:
                    best = {"ranks": ranks, "threads_per_rank": max(1, cores // ranks), "full_seconds": full,
                            "startup_seconds": startup, "work_seconds": work, "images_per_s": args.images / work}
            rows.append(best)
            print(f"{ranks} rank(s): {best['images_per_s']:.2f} images/s "
                  f"({best['work_seconds']:.1f} s of work, {best['startup_seconds']:.1f} s of start-up)", flush=True)
    base = rows[0]["images_per_s"]
    result = {
        "what": f"restore upscale, {args.images} images of {args.size}x{args.size}, {args.model} x{args.scale}, "
                f"--device {args.device}, torchrun --standalone",
        "machine": {"cores": cores, "platform": platform.platform(), "python": sys.version.split()[0],
                    "load_average": os.getloadavg()},
        "note": args.note,
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("\n| ranks | threads per rank | images/s | speed-up |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['ranks']} | {row['threads_per_rank']} | {row['images_per_s']:.2f} | "
              f"{row['images_per_s'] / base:.2f}x |")
    print(f"\nwritten: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
