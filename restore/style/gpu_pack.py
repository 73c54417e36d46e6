"""The packed data a lent GPU machine trains a style model on (``cache/gpu_style``, ignored by git).

A lent machine gets a copy of the repository of at most 64 MiB, never sees ../shared and downloads nothing, so
everything a SANet stage needs travels in one ignored folder beside the tracked files (~32 MiB):

* ``vgg16_relu5_1.safetensors``: the frozen encoder, torchvision VGG-16 up to conv5_1 in float16 (19.1 MiB;
  the pinned backbone file is 59 MB of float32 with the layers SANet never uses);
* ``loss_channel_means.safetensors``: the loss network's calibration (``StyleTrainer.loss_channel_means``),
  computed here from the whole training split exactly as a CPU run computes it, so a GPU stage trains against the
  same normalised loss network as the CPU runs;
* ``train/content/*.jpg`` and ``train/style/*.jpg``: the recipe's training contents and paintings, resized to
  the recipe's short side as a CPU run decodes them, then JPEG-encoded at quality 90 (the decoded split is
  ~170 MiB; at quality 95 ~25 MiB; at 90 ~18 MiB, the files of MS-COCO, the paper's training set, are of that
  quality too). When not all fit the budget, a seeded random subset of each, in equal fractions;
* ``heldout/*.webp``: the first held-out pairs of the recipe's split, square-cropped as the evaluation crops
  them and stored losslessly, so the stage's validations are the held-out measure of ``restore.style.evaluate``
  on those pairs (held-out images are never trained on);
* ``pack.json``: the recipe's data settings the pack was made for, the split, where every file came from, and
  the sha256 of the weight files.
"""
from __future__ import annotations

import io
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from restore.errors import RestoreError
from restore.hashing import sha256_file
from restore.paths import REPO_ROOT
from restore.style.train import StyleData, StyleDataOptions, calibrate_channel_means

STYLE_PACK_DIR = REPO_ROOT / "cache" / "gpu_style"
ENCODER_FILE = "vgg16_relu5_1.safetensors"
MEANS_FILE = "loss_channel_means.safetensors"
TAP_NAMES = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DATA_KEYS = ("content", "style", "resize_short", "holdout_every")  # the recipe settings a pack is made for
JPEG_QUALITY = 90
# At 28 MiB, 163 of the 381 training contents and 108 of the 252 paintings at quality 90 fit beside the encoder
# (measured with ~32 MiB of tracked files: a 60.1 MiB tree). The zoo grows the tracked files, so a pack takes at
# most this and otherwise what the device tool's 64 MiB tree leaves (default_budget_mib).
DEFAULT_BUDGET_MIB = 28.0
TREE_MARGIN_MIB = 1.0  # left free for the files a session adds between building the pack and the device call
VALIDATION_PAIRS = 8  # the pairs of scripts/style_diagnostics.py's palette tables (docs/style.md)
VALIDATION_SIZE = 256


class StylePackError(RestoreError):
    """The style pack is missing, damaged, or made for other data settings than the recipe's."""


def _jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _webp_lossless(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "WEBP", lossless=True, quality=100, method=4)
    return buffer.getvalue()


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def default_budget_mib() -> float:
    """The pack size this checkout leaves room for: ``DEFAULT_BUDGET_MIB``, or less when the tracked files have
    grown, so that the tree a device call sends (``travelling_bytes``) stays under ``MAX_TREE_BYTES`` with
    ``TREE_MARGIN_MIB`` to spare. Rounded down to 0.1 MiB."""
    from restore.training.campaign import MAX_TREE_BYTES, travelling_bytes

    room_mib = (MAX_TREE_BYTES - travelling_bytes([])) / 2**20 - TREE_MARGIN_MIB
    return min(DEFAULT_BUDGET_MIB, math.floor(room_mib * 10) / 10)


def build_style_pack(
    data_root: Path,
    data: StyleDataOptions,
    out: Path = STYLE_PACK_DIR,
    *,
    budget_mib: float = DEFAULT_BUDGET_MIB,
    quality: int = JPEG_QUALITY,
    seed: int = 0,
    validation_pairs: int = VALIDATION_PAIRS,
    validation_size: int = VALIDATION_SIZE,
    log: Callable[[str], None] = print,
) -> dict:
    """Write the pack for a recipe's ``data`` under ``out`` (replacing any earlier one); returns its manifest.
    Needs the VGG-16 backbone (``restore weights fetch``) for the encoder and the calibration."""
    from restore.style.build import build_sanet
    from restore.style.data import list_images, load_bank, split_holdout
    from restore.style.evaluate import held_out_pairs, load_square

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    network = build_sanet("vgg16")
    encoder = {key: value.to(torch.float16).contiguous() for key, value in network.encoder.state_dict().items()}
    save_file(encoder, str(out / ENCODER_FILE), metadata={"what": "torchvision VGG-16 features up to conv5_1"})
    budget = int(budget_mib * 2**20)
    if (out / ENCODER_FILE).stat().st_size >= budget:
        raise StylePackError(f"a {budget_mib} MiB pack leaves no room beside the encoder's "
                             f"{(out / ENCODER_FILE).stat().st_size / 2**20:.1f} MiB")

    contents, held_contents = split_holdout(list_images(data_root, list(data.content)), data.holdout_every)
    styles, held_styles = split_holdout(list_images(data_root, list(data.style)), data.holdout_every)
    banks = {"content": load_bank(data_root, contents, data.resize_short, log),
             "style": load_bank(data_root, styles, data.resize_short, log)}
    log(f"calibrating the loss network on {len(contents)} contents and {len(styles)} paintings")
    means = calibrate_channel_means(network, [banks["content"], banks["style"]])
    save_file({name: mean.contiguous() for name, mean in zip(TAP_NAMES, means)}, str(out / MEANS_FILE))

    pairs = held_out_pairs(held_contents, held_styles)[:validation_pairs]
    validation = []
    (out / "heldout").mkdir()
    for index, (content, style) in enumerate(pairs):
        files = []
        for kind, name in (("content", content), ("style", style)):
            file = f"heldout/{index:02d}_{kind}.webp"
            (out / file).write_bytes(_webp_lossless(load_square(data_root / name, validation_size)))
            files.append(file)
        validation.append({"content": content, "style": style, "files": files})

    names = {"content": contents, "style": styles}
    orders = {kind: list(np.random.default_rng([seed, i]).permutation(len(names[kind])))
              for i, kind in enumerate(names)}
    packed: dict[str, list[dict]] = {"content": [], "style": []}
    for kind in names:
        (out / "train" / kind).mkdir(parents=True)
    used = _folder_bytes(out) + 64 * 1024  # room for pack.json
    while any(orders.values()):
        # The bank with the smaller packed fraction goes next: a cut budget keeps both in proportion.
        kind = min((k for k in orders if orders[k]), key=lambda k: len(packed[k]) / len(names[k]))
        item = int(orders[kind].pop(0))
        encoded = _jpeg(banks[kind].image(item), quality)
        if used + len(encoded) > budget:
            break
        file = f"train/{kind}/{len(packed[kind]):04d}.jpg"
        (out / file).write_bytes(encoded)
        packed[kind].append({"file": file, "source": names[kind][item]})
        used += len(encoded)
    if not packed["content"] or not packed["style"]:
        raise StylePackError(f"a {budget_mib} MiB pack holds no {'content' if not packed['content'] else 'painting'}")
    manifest = {
        "what": "SANet training data for a lent GPU: encoder, loss calibration, training images, held-out pairs",
        "data": _data_settings(data),
        "jpeg_quality": quality,
        "seed": seed,
        "budget_mib": budget_mib,
        "split": {"content_train": len(packed["content"]), "style_train": len(packed["style"]),
                  "content_held_out": held_contents, "style_held_out": held_styles},
        "split_sizes": {"content_train": len(contents), "style_train": len(styles)},
        "encoder": {"file": ENCODER_FILE, "sha256": sha256_file(out / ENCODER_FILE), "dtype": "float16"},
        "loss_channel_means": {"file": MEANS_FILE, "sha256": sha256_file(out / MEANS_FILE)},
        "validation": {"size": validation_size, "pairs": validation},
        "content": packed["content"],
        "style": packed["style"],
    }
    (out / "pack.json").write_text(json.dumps(manifest, indent=0) + "\n")
    log(f"packed {len(packed['content'])} of {len(contents)} contents, {len(packed['style'])} of {len(styles)} "
        f"paintings, {len(validation)} held-out pairs and the encoder: {_folder_bytes(out) / 2**20:.1f} MiB in {out}")
    return manifest


def read_manifest(pack: Path) -> dict:
    path = pack / "pack.json"
    if not path.is_file():
        raise StylePackError(f"no style pack at {pack}: build it with scripts/pack_gpu_style_cache.py and name "
                             f"{_relative(pack)} in the device tool's carry list")
    return json.loads(path.read_text())


def _data_settings(data: StyleDataOptions) -> dict:
    return {key: list(value) if isinstance(value, (list, tuple)) else value
            for key, value in ((key, getattr(data, key)) for key in DATA_KEYS)}


def check_pack_fits(manifest: dict, data: StyleDataOptions, pack: Path) -> None:
    """Raise StylePackError unless the pack was made for these data settings."""
    wanted = _data_settings(data)
    if manifest["data"] != wanted:
        raise StylePackError(f"{_relative(pack)} was packed for data {manifest['data']}, the recipe reads {wanted}: "
                             "rebuild it with scripts/pack_gpu_style_cache.py --recipe RECIPE")


def load_style_pack(pack: Path = STYLE_PACK_DIR) -> StyleData:
    """The pack as ready-made training data: images decoded, weight files sha256-checked."""
    from restore.style.data import decoded_bank

    manifest = read_manifest(pack)
    for entry in (manifest["encoder"], manifest["loss_channel_means"]):
        if sha256_file(pack / entry["file"]) != entry["sha256"]:
            raise StylePackError(f"{pack / entry['file']} does not match the sha256 in pack.json; rebuild the pack")
    banks = {}
    for kind in ("content", "style"):
        images = []
        for entry in manifest[kind]:
            with Image.open(pack / entry["file"]) as image:
                images.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
        banks[kind] = decoded_bank(images)
    means = load_file(str(pack / MEANS_FILE))
    return StyleData(contents=banks["content"], styles=banks["style"], split=manifest["split"],
                     encoder_state=load_file(str(pack / ENCODER_FILE)),
                     loss_channel_means=[means[name] for name in TAP_NAMES])


def _relative(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
