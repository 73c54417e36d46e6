"""The packed data a lent GPU machine trains on: HR tiles of the training set plus Set5 for validation.

A lent machine gets a copy of the repository of at most 64 MiB and never sees ../shared, so the data must
travel inside the working tree, in an ignored folder (``cache/gpu``). The full training set is ~70 MB even
as lossless WebP, so the pack holds a seeded random subset of 240-pixel HR tiles (lossless WebP: the pixels
are exactly the training images'), laid out as a small data root that the ordinary trainer reads unchanged:
``data/train/tiles/*.webp`` (LR made there by the MATLAB-exact degradation, like any run) and
``data/Set5/{HR,LR_bicubic}`` (validation only). ``pack.json`` records where every tile came from.

Why tiles of 240: 240 is a multiple of 2, 3 and 4 (no modcrop loss) and leaves 13 x 13 positions for a 48-pixel
LR patch even at x4. Why drop the flattest quarter: sky and blank walls teach an SR network almost nothing
and would take a quarter of the budget.
"""
from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from restore.errors import RestoreError
from restore.paths import REPO_ROOT

PACK_DIR = REPO_ROOT / "cache" / "gpu"
TRAIN_FOLDER = "train/tiles"  # relative to the pack's data root, as recipes name training folders
DEFAULT_SOURCES = ("train/T91", "train/BSD200", "train/photos")
VALIDATION_SET = "Set5"
TILE = 240
MIN_SIDE = 96  # an image smaller than a tile is kept whole when both sides hold an x2 patch of 48
MAX_BUDGET_MIB = 25  # the carried tree must stay under 64 MiB with the tracked files (38.5 MiB in session 14)
FLAT_FRACTION = 0.25


@dataclass(frozen=True)
class Tile:
    source: str  # the image, relative to the data root
    box: tuple[int, int, int, int]  # top, left, height, width
    texture: float  # mean absolute luma gradient: the flatness ranking


def _tiles_of(image: np.ndarray, source: str) -> list[Tile]:
    """Non-overlapping TILE x TILE tiles of an (H, W, 3) image; a smaller image is one tile, cropped to a
    multiple of 12 (every scale's modcrop)."""
    height, width = image.shape[:2]
    if height < TILE or width < TILE:
        h, w = height - height % 12, width - width % 12
        boxes = [(0, 0, h, w)] if min(h, w) >= MIN_SIDE else []
    else:
        boxes = [(y, x, TILE, TILE)
                 for y in range(0, height - TILE + 1, TILE) for x in range(0, width - TILE + 1, TILE)]
    luma = image.astype(np.float32) @ np.array([65.481, 128.553, 24.966], dtype=np.float32) / 255.0
    tiles = []
    for y, x, h, w in boxes:
        patch = luma[y : y + h, x : x + w]
        texture = float(np.abs(np.diff(patch, axis=0)).mean() + np.abs(np.diff(patch, axis=1)).mean())
        tiles.append(Tile(source, (y, x, h, w), texture))
    return tiles


def _webp_lossless(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "WEBP", lossless=True, quality=100, method=4)
    return buffer.getvalue()


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build_pack(
    data_root: Path,
    out: Path = PACK_DIR,
    *,
    sources: tuple[str, ...] = DEFAULT_SOURCES,
    budget_mib: float = 24.0,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict:
    """Write the pack under ``out`` (replacing any earlier one) and return its manifest."""
    from restore.datasets import get_dataset
    from restore.io.image import read_image
    from restore.training.data import list_images

    if not 0 < budget_mib <= MAX_BUDGET_MIB:
        raise RestoreError(f"the pack budget must be in (0, {MAX_BUDGET_MIB}] MiB, got {budget_mib}")
    for source in sources:
        if not source.startswith("train/"):
            raise RestoreError(f"training tiles come from train/ folders only (never a benchmark set), got {source!r}")
    if out.exists():
        shutil.rmtree(out)
    data = out / "data"
    validation = get_dataset(VALIDATION_SET, data_root)
    for hr in validation.hr_paths():
        copies = [(hr, data / VALIDATION_SET / "HR" / hr.name)]
        for s in (2, 3, 4):
            lr_name = Path("LR_bicubic") / f"X{s}" / f"{hr.stem}x{s}.png"
            copies.append((validation.lr_path(hr.stem, s), data / VALIDATION_SET / lr_name))
        for source, target in copies:
            if source is not None and source.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)

    files = list_images([data_root / source for source in sources])
    log(f"scoring the tiles of {len(files)} training images")
    candidates: list[Tile] = []
    for path in files:
        image = read_image(path)
        image = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[..., :3]
        candidates += _tiles_of(image, str(path.relative_to(data_root)))
    textures = np.array([tile.texture for tile in candidates])
    threshold = float(np.quantile(textures, FLAT_FRACTION))
    kept = [tile for tile in candidates if tile.texture > threshold]
    order = np.random.default_rng(seed).permutation(len(kept))

    budget = int(budget_mib * 2**20) - _folder_bytes(out) - 64 * 1024  # room for pack.json
    folder = data / TRAIN_FOLDER
    folder.mkdir(parents=True)
    written, used, pixels, decoded = [], 0, 0, {}
    for i in order:
        tile = kept[i]
        if tile.source not in decoded:
            decoded = {tile.source: read_image(data_root / tile.source)}  # tiles of one image are rarely adjacent
        image = decoded[tile.source]
        image = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[..., :3]
        y, x, h, w = tile.box
        encoded = _webp_lossless(np.ascontiguousarray(image[y : y + h, x : x + w]))
        if used + len(encoded) > budget:
            break
        name = f"{Path(tile.source).parent.name}_{Path(tile.source).stem}_{y}_{x}.webp"
        (folder / name).write_bytes(encoded)
        written.append({"file": name, "source": tile.source, "box": list(tile.box), "texture": round(tile.texture, 3)})
        used += len(encoded)
        pixels += h * w
    manifest = {
        "what": "HR tiles of the training set (lossless WebP) for a lent GPU machine, and Set5 for validation only",
        "sources": list(sources),
        "seed": seed,
        "tile": TILE,
        "flat_fraction_dropped": FLAT_FRACTION,
        "candidate_tiles": len(candidates),
        "tiles": len(written),
        "megapixels": round(pixels / 1e6, 2),
        "budget_mib": budget_mib,
        "train_folder": TRAIN_FOLDER,
        "validation": VALIDATION_SET,
        "files": written,
    }
    (out / "pack.json").write_text(json.dumps(manifest, indent=0) + "\n")
    total = _folder_bytes(out)
    manifest["bytes"] = total
    log(f"packed {len(written)} of {len(kept)} textured tiles ({pixels / 1e6:.1f} MP) and {VALIDATION_SET}: "
        f"{total / 2**20:.1f} MiB in {out}")
    return manifest
