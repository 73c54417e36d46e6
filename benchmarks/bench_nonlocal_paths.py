"""RNAN's non-local block without gradients: the fused-kernel path against the banded path, in one run.

Times (a) the attention alone on a random 128x128 input (N = 16,384, 16 channels) and (b) rnan-compact x2 on Set5's
bird (144x144 LR), each path in turn, and reports the ratio and the largest output difference.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_nonlocal_paths.py
"""
from __future__ import annotations

import time

import numpy as np
import torch
from PIL import Image

from restore.blocks.nonlocal_attention import DEFAULT_BAND_BYTES, NonLocalBlock, _band_size, query_softmax_attention
from restore.paths import data_root
from restore.zoo import load_model


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> None:
    torch.manual_seed(0)
    positions = 128 * 128
    query, key = torch.randn(1, 16, positions) * 0.7, torch.randn(1, 16, positions) * 0.7
    value = torch.randn(1, positions, 16)
    band = _band_size(1, positions, 4, DEFAULT_BAND_BYTES)
    with torch.no_grad():
        banded_s, banded = timed(lambda: query_softmax_attention(query, key, value, band=band))
        fused_s, fused = timed(lambda: query_softmax_attention(query, key, value))
    print(f"attention 128x128: banded {banded_s:.2f} s, fused {fused_s:.2f} s ({banded_s / fused_s:.1f}x), "
          f"max diff {(fused - banded).abs().max().item() / banded.abs().max().item():.1e} of range")

    model = load_model("rnan-compact", 2).eval()
    image = np.array(Image.open(data_root() / "Set5" / "LR_bicubic" / "X2" / "birdx2.png").convert("RGB"))
    lr = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    outputs, seconds = {}, {}
    for name, block_band in (("banded", 2048), ("fused", None)):
        for module in model.modules():
            if isinstance(module, NonLocalBlock):
                module.band = block_band
        with torch.no_grad():
            seconds[name], outputs[name] = timed(lambda: model(lr))
    difference = (outputs["fused"] - outputs["banded"]).abs().max().item() / outputs["banded"].abs().max().item()
    print(f"rnan-compact x2, Set5 bird: banded {seconds['banded']:.1f} s, fused {seconds['fused']:.1f} s "
          f"({seconds['banded'] / seconds['fused']:.1f}x), max diff {difference:.1e} of range")


if __name__ == "__main__":
    main()
