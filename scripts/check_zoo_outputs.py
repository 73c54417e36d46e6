"""Fingerprint what every shipped SR zoo model makes of Set5, to prove a refactor changed no output bit.

For each trained zoo model with weights (``models/*_x<s>.json``, SR archs only), every Set5 LR image of its
scale is cropped to its top-left ``--crop`` pixels (RNAN on whole images takes minutes per image on a busy
CPU) and upscaled through the public engine (``Upscaler``, CPU, fp32, no tiling: the automatic tile depends on
free memory, which would make the fingerprint depend on the machine's load). The sha256 of each output array,
plus the engine's memory model of the arch at a few sizes, goes to a JSON file; two runs compare with
``--compare``.

    PYTHONPATH=$PWD python scripts/check_zoo_outputs.py --out before.json
    PYTHONPATH=$PWD python scripts/check_zoo_outputs.py --out after.json --compare before.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

DEFAULT_SET5 = Path("/work/shared/datasets/Set5/LR_bicubic")


def fingerprints(set5_lr: Path, crop: int) -> dict[str, object]:
    from restore.engine.memory import memory_model_for
    from restore.engine.upscaler import Upscaler
    from restore.zoo import list_models

    result: dict[str, object] = {}
    for entry in list_models():
        if entry.card is None or entry.weights is None or entry.arch == "sanet":
            continue
        key = f"{entry.name}_x{entry.scale}"
        upscaler = Upscaler(entry.name, entry.scale, tile=None, device="cpu", precision="fp32")
        outputs = {}
        for path in sorted((set5_lr / f"X{entry.scale}").glob("*.png")):
            lr = np.asarray(Image.open(path).convert("RGB"))[:crop, :crop]
            sr = upscaler.upscale_array(np.ascontiguousarray(lr))
            outputs[path.name] = hashlib.sha256(sr.tobytes()).hexdigest()
            print(key, path.name, outputs[path.name][:16], flush=True)
        memory = {
            str(side): memory_model_for(entry.arch, entry.scale, entry.config, 4).bytes_for(side, side)
            for side in (64, 512)
        }
        result[key] = {"outputs": outputs, "memory_bytes": memory}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--compare", type=Path, help="a JSON written by an earlier run; exit 1 on any difference")
    parser.add_argument("--set5", type=Path, default=DEFAULT_SET5, help="the Set5 LR_bicubic folder")
    parser.add_argument("--crop", type=int, default=64, help="LR crop side (top-left)")
    options = parser.parse_args()
    torch.set_num_threads(1)
    result = {"crop": options.crop, "torch": torch.__version__, "models": fingerprints(options.set5, options.crop)}
    options.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    if options.compare is None:
        return 0
    before = json.loads(options.compare.read_text())
    if before["models"] == result["models"]:
        print(f"identical: {len(result['models'])} models, every output and memory estimate")
        return 0
    for key in sorted(set(before["models"]) | set(result["models"])):
        if before["models"].get(key) != result["models"].get(key):
            print(f"DIFFERENT: {key}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
