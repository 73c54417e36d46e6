"""CPU forward time and peak memory of restore's four SR archs (official full configs), and RCAN vs BasicSR's RCAN.

Every measurement runs in a fresh subprocess so that one model's allocator high-water mark never pollutes
another's: the worker builds the model, records ``ru_maxrss`` (the "model only" baseline), runs one
warm-up forward on a tiny input (thread pool and oneDNN start-up), then the timed forward(s) under
``torch.inference_mode()`` (batch 1, float32), and records ``ru_maxrss`` again.

Usage::

    .venv/bin/python benchmarks/bench_archs.py                      # 64, 128, 256 LR, x4, + RCAN vs BasicSR
    .venv/bin/python benchmarks/bench_archs.py --quick              # smoke run: LR 32, one comparison rep
    .venv/bin/python benchmarks/bench_archs.py --probe-512          # SAN / RNAN attention blocks at LR 512

Writes JSON (default ``benchmarks/results/archs.json``) and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ARCHS = ("rcan", "rdn", "rnan", "san")
DEFAULT_SIZES = (64, 128, 256)
QUICK_SIZES = (32,)
WARMUP_SIDE = 16
RESULTS_PATH = Path(__file__).resolve().parent / "results" / "archs.json"
MIB = 2**20


def peak_rss_bytes() -> int:
    """This process's resident-set high-water mark (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_description() -> dict:
    return {
        "cpu": cpu_model(),
        "logical_cpus": torch.multiprocessing.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def build_official(arch: str, scale: int) -> torch.nn.Module:
    from restore.archs import build_model

    return build_model(arch, scale).eval()


def timed_forward(model: torch.nn.Module, image: torch.Tensor) -> float:
    """Seconds for one forward. Shape: (1, 3, H, W) in [0, 255]."""
    with torch.inference_mode():
        start = time.perf_counter()
        model(image)
        return time.perf_counter() - start


def measure_arch(arch: str, side: int, scale: int, repeats: int) -> dict:
    """Worker body: one official model, one LR size. Runs in its own process."""
    torch.manual_seed(0)
    model = build_official(arch, scale)
    parameters = sum(p.numel() for p in model.parameters())
    model_only_rss = peak_rss_bytes()
    timed_forward(model, torch.rand(1, 3, WARMUP_SIDE, WARMUP_SIDE) * 255)
    image = torch.rand(1, 3, side, side) * 255
    seconds = [timed_forward(model, image) for _ in range(repeats)]
    peak = peak_rss_bytes()
    return {
        "arch": arch,
        "lr_side": side,
        "scale": scale,
        "parameters": parameters,
        "forward_seconds": seconds,
        "peak_rss_mib": peak / MIB,
        "model_only_rss_mib": model_only_rss / MIB,
        "peak_over_model_mib": (peak - model_only_rss) / MIB,
    }


def basicsr_rcan(scale: int) -> torch.nn.Module:
    from restore.interop.basicsr_compat import import_basicsr

    import_basicsr()
    from basicsr.archs.rcan_arch import RCAN

    return RCAN(
        num_in_ch=3, num_out_ch=3, num_feat=64, num_group=10, num_block=20, squeeze_factor=16, upscale=scale,
        img_range=255.0,
    ).eval()


def ours_to_basicsr_key(key: str) -> str | None:
    """Our (official RCAN) parameter name -> BasicSR's; None for the MeanShift convs BasicSR does not have."""
    parts = key.split(".")
    if parts[0] in ("sub_mean", "add_mean"):
        return None
    if parts[0] == "head":
        return "conv_first." + parts[-1]
    if parts[0] == "tail":
        return ("upsample." + parts[2] if parts[1] == "0" else "conv_last") + "." + parts[-1]
    if len(parts) == 3:
        return "conv_after_body." + parts[-1]
    group = parts[1]
    if len(parts) == 5:
        return f"body.{group}.conv.{parts[-1]}"
    block, layer = parts[3], parts[5]
    if layer == "3":
        return f"body.{group}.residual_group.{block}.rcab.3.attention.{int(parts[7]) + 1}.{parts[-1]}"
    return f"body.{group}.residual_group.{block}.rcab.{layer}.{parts[-1]}"


def compare_rcan(side: int, scale: int, repeats: int) -> dict:
    """Worker body: ours vs BasicSR's RCAN with the same weights on the same input, interleaved.

    BasicSR takes [0, 1] and ours [0, 255], so BasicSR gets ``image / 255`` and its output is compared after
    ``* 255``. Each model and layout gets one untimed forward at the full size first (oneDNN set-up). BasicSR is also timed on a channels-last copy of its input, to show how much of the gap is
    the memory layout alone.
    """
    torch.manual_seed(0)
    ours = build_official("rcan", scale)
    theirs = basicsr_rcan(scale)
    theirs.load_state_dict(
        {ours_to_basicsr_key(key): value for key, value in ours.state_dict().items() if ours_to_basicsr_key(key)},
        strict=True,
    )
    image = torch.rand(1, 3, side, side) * 255
    unit_image = image / 255
    unit_image_channels_last = unit_image.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        max_abs_difference = (ours(image) - theirs(unit_image) * 255).abs().max().item()
    for model, warmup_input in ((ours, image), (theirs, unit_image), (theirs, unit_image_channels_last)):
        timed_forward(model, warmup_input)
    runs = {"ours": [], "basicsr": [], "basicsr_channels_last_input": []}
    for _ in range(repeats):
        runs["ours"].append(timed_forward(ours, image))
        runs["basicsr"].append(timed_forward(theirs, unit_image))
        runs["basicsr_channels_last_input"].append(timed_forward(theirs, unit_image_channels_last))
    ratios = [mine / basic for mine, basic in zip(runs["ours"], runs["basicsr"])]
    return {
        "lr_side": side,
        "scale": scale,
        "forward_seconds": runs,
        "ratio_ours_over_basicsr_per_rep": ratios,
        "ratio_ours_over_basicsr_median": statistics.median(ratios),
        "ratio_basicsr_channels_last_over_basicsr_median": statistics.median(
            cl / basic for cl, basic in zip(runs["basicsr_channels_last_input"], runs["basicsr"])
        ),
        "max_abs_difference_0_255": max_abs_difference,
    }


def probe_attention_512(block: str, side: int) -> dict:
    """Worker body: one attention block of the official SAN / RNAN on full-size 64-channel LR features.

    ``san_region_nonlocal``: SAN's RegionNonLocal (run twice per SAN forward) then one SOCA.
    ``rnan_nonlocal``: RNAN's NonLocalBlock (one per non-local group, two per RNAN forward).
    """
    torch.manual_seed(0)
    if block == "san_region_nonlocal":
        from restore.blocks.region_nonlocal import RegionNonLocal
        from restore.blocks.second_order_attention import SecondOrderChannelAttention

        modules = [RegionNonLocal(64, 8, reduction=8), SecondOrderChannelAttention(64, reduction=16)]
    elif block == "rnan_nonlocal":
        from restore.blocks.nonlocal_attention import NonLocalBlock

        modules = [NonLocalBlock(64, 32)]
    else:
        raise ValueError(f"unknown block {block!r}")
    features = torch.randn(1, 64, side, side)
    model_only_rss = peak_rss_bytes()
    seconds = []
    with torch.inference_mode():
        for module in modules:
            start = time.perf_counter()
            module.eval()(features)
            seconds.append(time.perf_counter() - start)
    peak = peak_rss_bytes()
    return {
        "block": block,
        "lr_side": side,
        "forward_seconds": seconds,
        "peak_rss_mib": peak / MIB,
        "model_only_rss_mib": model_only_rss / MIB,
        "peak_over_model_mib": (peak - model_only_rss) / MIB,
    }


def run_worker(job: dict) -> dict:
    """Run ``job`` in a fresh interpreter and return its JSON result (or the error it died with)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        return {**job, "error": completed.stderr.strip().splitlines()[-1:] or [f"exit {completed.returncode}"]}
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["worker_wall_seconds"] = time.perf_counter() - started
    return result


def worker_main(job: dict) -> None:
    kind = job["kind"]
    if kind == "arch":
        result = measure_arch(job["arch"], job["lr_side"], job["scale"], job["repeats"])
    elif kind == "compare":
        result = compare_rcan(job["lr_side"], job["scale"], job["repeats"])
    else:
        result = probe_attention_512(job["block"], job["lr_side"])
    print(json.dumps(result))


def markdown_tables(results: dict) -> str:
    lines = [
        "| arch | params (M) | LR side | forward (s) | peak RSS (MiB) | model-only RSS (MiB) | peak over model (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["archs"]:
        if "error" in row:
            lines.append(f"| {row['arch']} | | {row['lr_side']} | error: {row['error']} | | | |")
            continue
        lines.append(
            f"| {row['arch']} | {row['parameters'] / 1e6:.2f} | {row['lr_side']} | {min(row['forward_seconds']):.2f} "
            f"| {row['peak_rss_mib']:.0f} | {row['model_only_rss_mib']:.0f} | {row['peak_over_model_mib']:.0f} |"
        )
    comparison = results.get("rcan_vs_basicsr")
    if comparison and "error" not in comparison:
        runs = comparison["forward_seconds"]
        lines += [
            "",
            f"RCAN x{comparison['scale']} at LR {comparison['lr_side']}, interleaved, {len(runs['ours'])} reps "
            "(seconds per rep):",
            "",
            "| model | forward (s) per rep | median ratio to BasicSR |",
            "|---|---|---:|",
            f"| restore RCAN | {', '.join(f'{s:.2f}' for s in runs['ours'])} "
            f"| {comparison['ratio_ours_over_basicsr_median']:.3f} |",
            f"| BasicSR RCAN | {', '.join(f'{s:.2f}' for s in runs['basicsr'])} | 1.000 |",
            f"| BasicSR RCAN, channels-last input | "
            f"{', '.join(f'{s:.2f}' for s in runs['basicsr_channels_last_input'])} "
            f"| {comparison['ratio_basicsr_channels_last_over_basicsr_median']:.3f} |",
            "",
            f"max |ours - BasicSR| on [0, 255] outputs: {comparison['max_abs_difference_0_255']:.2e}",
        ]
    elif comparison:
        lines += ["", f"RCAN vs BasicSR failed: {comparison['error']}"]
    if results.get("attention_512"):
        lines += [
            "",
            "| attention block (full-size 64-channel features) | LR side | forward (s) | peak RSS (MiB) "
            "| peak over inputs (MiB) |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in results["attention_512"]:
            if "error" in row:
                lines.append(f"| {row['block']} | {row['lr_side']} | error: {row['error']} | | |")
                continue
            seconds = " + ".join(f"{s:.2f}" for s in row["forward_seconds"])
            lines.append(
                f"| {row['block']} | {row['lr_side']} | {seconds} | {row['peak_rss_mib']:.0f} "
                f"| {row['peak_over_model_mib']:.0f} |"
            )
    return "\n".join(lines)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", help=f"LR sides (default {' '.join(map(str, DEFAULT_SIZES))})")
    parser.add_argument("--archs", nargs="+", choices=ARCHS, default=list(ARCHS))
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1, help="timed forwards per (arch, size); the minimum is shown")
    parser.add_argument("--compare-side", type=int, help="LR side of RCAN vs BasicSR (default: smallest size)")
    parser.add_argument("--compare-repeats", type=int, default=3)
    parser.add_argument("--no-compare", action="store_true", help="skip RCAN vs BasicSR")
    parser.add_argument("--compare-only", action="store_true", help="only RCAN vs BasicSR")
    parser.add_argument("--quick", action="store_true", help="smoke run: LR 32, one comparison rep")
    parser.add_argument("--probe-512", action="store_true", help="also run the SAN / RNAN attention blocks at LR 512 (those in --archs)")
    parser.add_argument("--probe-only", action="store_true", help="only the --probe-512 measurements")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_arguments(argv)
    if options.worker:
        worker_main(json.loads(options.worker))
        return 0
    sizes = options.sizes or (QUICK_SIZES if options.quick else DEFAULT_SIZES)
    compare_repeats = 1 if options.quick else options.compare_repeats
    results: dict = {
        "machine": machine_description(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "archs": [],
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        # Rewritten after every worker, so an interrupted long run keeps what it measured.
        options.output.write_text(json.dumps(results, indent=2) + "\n")

    if not (options.probe_only or options.compare_only):
        for side in sizes:
            for arch in options.archs:
                job = {"kind": "arch", "arch": arch, "lr_side": side, "scale": options.scale, "repeats": options.repeats}
                row = run_worker(job)
                results["archs"].append(row)
                save()
                print(f"# {arch} {side}: {row.get('forward_seconds', row.get('error'))}", file=sys.stderr, flush=True)
    if not (options.probe_only or options.no_compare):
        side = options.compare_side or min(sizes)
        results["rcan_vs_basicsr"] = run_worker(
            {"kind": "compare", "lr_side": side, "scale": options.scale, "repeats": compare_repeats}
        )
        save()
    if options.probe_512 or options.probe_only:
        results["attention_512"] = []
        for arch, block in (("san", "san_region_nonlocal"), ("rnan", "rnan_nonlocal")):
            if arch in options.archs:
                results["attention_512"].append(run_worker({"kind": "probe", "block": block, "lr_side": 512}))
                save()
    save()
    print(markdown_tables(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
