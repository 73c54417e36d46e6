"""Training throughput: restore's loop against BasicSR's stock SRModel, full RCAN x4, same run.

Both train the official RCAN configuration (10 groups x 20 RCABs, 64 features, x4) with L1 + Adam on
batch 16 of 48x48 LR patches, on the CPU. Steps are interleaved (ours, BasicSR, ours, ...) after one
warm-up step each, so machine noise hits both alike; the ratio of median step times is the figure.

    .venv/bin/python benchmarks/bench_train.py [--steps 3] [--batch 16] [--patch 48]

Writes benchmarks/results/train.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from restore.archs import build_model
from restore.interop.basicsr_compat import import_basicsr

RESULTS = Path(__file__).parent / "results" / "train.json"


def ours_step_factory(batch: int, patch: int):
    """One step of restore's training loop body: channels_last model, L1, Adam (as restore.training does)."""
    model = build_model("rcan", 4).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4, betas=(0.9, 0.99))
    lr = (torch.rand(batch, 3, patch, patch) * 255).contiguous(memory_format=torch.channels_last)
    hr = (torch.rand(batch, 3, 4 * patch, 4 * patch) * 255).contiguous(memory_format=torch.channels_last)

    def step() -> float:
        loss = F.l1_loss(model(lr), hr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def basicsr_step_factory(batch: int, patch: int):
    """One step of BasicSR's SRModel.optimize_parameters with its own RCAN."""
    import_basicsr()
    from basicsr.models.sr_model import SRModel

    opt = {
        "name": "bench", "model_type": "SRModel", "num_gpu": 0, "dist": False, "is_train": True, "scale": 4,
        "network_g": {"type": "RCAN", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_group": 10,
                      "num_block": 20, "squeeze_factor": 16, "upscale": 4, "res_scale": 1, "img_range": 255.0,
                      "rgb_mean": [0.4488, 0.4371, 0.4040]},
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {"ema_decay": 0, "optim_g": {"type": "Adam", "lr": 1e-4, "betas": [0.9, 0.99]},
                  "scheduler": {"type": "MultiStepLR", "milestones": [200000], "gamma": 0.5},
                  "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"}},
        "logger": {}, "val": None,
    }
    model = SRModel(opt)
    data = {"lq": torch.rand(batch, 3, patch, patch), "gt": torch.rand(batch, 3, 4 * patch, 4 * patch)}
    iteration = [0]

    def step() -> float:
        iteration[0] += 1
        model.feed_data(data)
        model.optimize_parameters(iteration[0])
        return float(model.log_dict["l_pix"])

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per side (after one warm-up)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=48)
    args = parser.parse_args()
    torch.manual_seed(0)
    sides = {"restore": ours_step_factory(args.batch, args.patch),
             "basicsr": basicsr_step_factory(args.batch, args.patch)}
    times: dict[str, list[float]] = {name: [] for name in sides}
    load_start = os.getloadavg()
    for name, step in sides.items():
        step()  # warm-up: allocator, oneDNN primitive caches
    for _ in range(args.steps):
        for name, step in sides.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "config": "RCAN 10x20x64 x4, batch %d, %dx%d LR patches, L1 + Adam, CPU float32" % (args.batch, args.patch, args.patch),
        "seconds_per_step": times,
        "median_seconds": medians,
        "iterations_per_second": {name: 1 / value for name, value in medians.items()},
        "samples_per_second": {name: args.batch / value for name, value in medians.items()},
        "ratio_restore_over_basicsr": medians["restore"] / medians["basicsr"],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for name in sides:
        print(f"{name:8s} median {medians[name]:7.2f} s/step  {args.batch / medians[name]:6.2f} samples/s  "
              f"steps {', '.join(f'{t:.2f}' for t in times[name])}")
    print(f"restore / basicsr step time: {result['ratio_restore_over_basicsr']:.3f}")


if __name__ == "__main__":
    main()
