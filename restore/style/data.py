"""Style-training images: deterministic held-out split, decoded once into a uint8 cache, seeded crops.

Decoding ~700 photos and paintings (some of them many megapixels) costs about a minute; one training
step costs seconds. So every image is decoded once, resized so its short side is ``resize_short``,
and stored in one flat uint8 array (plus an index) in the cache folder; later runs memory-map it.
Crops come from a seeded numpy generator, so a batch depends only on (seed, iteration) and survives
a resume exactly.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restore.errors import DataError
from restore.io.suffixes import IMAGE_SUFFIXES
from restore.paths import cache_dir

CACHE_VERSION = 1


def list_images(root: Path, folders: list[str]) -> list[str]:
    """Image files under ``root/<folder>`` for each folder, as sorted root-relative POSIX paths."""
    names: list[str] = []
    for folder in folders:
        directory = root / folder
        if not directory.is_dir():
            raise DataError(f"{directory}: training folder not found")
        names += sorted(
            f"{folder}/{path.name}" for path in directory.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES
        )
    if not names:
        raise DataError(f"no images under {root} in {folders}")
    return names


def split_holdout(names: list[str], every: int) -> tuple[list[str], list[str]]:
    """(train, held_out): every ``every``-th name of the sorted list, starting with the first, is held out."""
    ordered = sorted(names)
    held_out = ordered[::every]
    held = set(held_out)
    return [name for name in ordered if name not in held], held_out


def _decode_resized(path: Path, resize_short: int) -> np.ndarray:
    try:
        with Image.open(path) as image:
            # JPEG draft decoding at a reduced scale is several times faster for large paintings.
            image.draft("RGB", (resize_short * 2, resize_short * 2))
            image = image.convert("RGB")
            width, height = image.size
            factor = resize_short / min(width, height)
            size = (max(resize_short, round(width * factor)), max(resize_short, round(height * factor)))
            return np.asarray(image.resize(size, Image.BICUBIC), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}: cannot read image ({exc})") from exc


@dataclass
class ImageBank:
    """Decoded images in one flat uint8 buffer; ``index[i] = (offset, height, width)``."""

    pixels: np.ndarray
    index: list[tuple[int, int, int]]

    def __len__(self) -> int:
        return len(self.index)

    def image(self, item: int) -> np.ndarray:
        """Image ``item`` as a view of the buffer (uint8, (H, W, 3))."""
        offset, height, width = self.index[item]
        return self.pixels[offset : offset + height * width * 3].reshape(height, width, 3)

    def crop(self, item: int, size: int, rng: np.random.Generator) -> np.ndarray:
        image = self.image(item)
        height, width = image.shape[:2]
        top = int(rng.integers(0, height - size + 1))
        left = int(rng.integers(0, width - size + 1))
        patch = image[top : top + size, left : left + size]
        return patch[:, ::-1] if rng.random() < 0.5 else patch

    def centre_square(self, item: int) -> np.ndarray:
        """The largest centred square of image ``item`` (uint8, (S, S, 3))."""
        image = self.image(item)
        height, width = image.shape[:2]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        return image[top : top + side, left : left + side]


def load_bank(root: Path, names: list[str], resize_short: int, log=print) -> ImageBank:
    """Decode (or memory-map the cached decode of) ``names`` under ``root``."""
    digest = hashlib.sha256(f"v{CACHE_VERSION} short{resize_short}".encode())
    for name in names:
        stat = (root / name).stat()
        digest.update(f"{name}|{stat.st_size}|{int(stat.st_mtime)}".encode())
    stem = cache_dir() / "style_crops" / digest.hexdigest()[:16]
    pixels_path, index_path = stem.with_suffix(".u8"), stem.with_suffix(".json")
    if not (pixels_path.is_file() and index_path.is_file()):
        log(f"decoding {len(names)} images into {pixels_path.parent} (once)")
        stem.parent.mkdir(parents=True, exist_ok=True)
        images = [_decode_resized(root / name, resize_short) for name in names]
        index = _bank_index(images)
        partial = pixels_path.with_suffix(".u8.partial")
        with partial.open("wb") as stream:
            for image in images:
                stream.write(np.ascontiguousarray(image).tobytes())
        partial.replace(pixels_path)
        index_path.write_text(json.dumps({"names": names, "index": index}))
    record = json.loads(index_path.read_text())
    pixels = np.memmap(pixels_path, dtype=np.uint8, mode="r")
    return ImageBank(pixels, [tuple(entry) for entry in record["index"]])


def image_tensor(array: np.ndarray) -> torch.Tensor:
    """One uint8 image as floats in [0, 1]; copies, so read-only and strided arrays are fine.

    Shape: (H, W, 3) -> (1, 3, H, W).
    """
    return torch.from_numpy(np.array(array)).permute(2, 0, 1)[None].float().div_(255.0)


def batch_crops(bank: ImageBank, count: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``count`` random crops, uint8 (what crosses to a GPU: a quarter of the bytes of floats).

    Shape: -> (count, 3, size, size).
    """
    items = rng.integers(0, len(bank), size=count)
    crops = np.stack([bank.crop(int(item), size, rng) for item in items])
    return torch.from_numpy(crops).permute(0, 3, 1, 2)


def decoded_bank(images: list[np.ndarray]) -> ImageBank:
    """An in-memory bank of already decoded images (uint8, (H, W, 3) each), as ``load_bank`` lays them out."""
    pixels = np.concatenate([np.ascontiguousarray(image).reshape(-1) for image in images])
    return ImageBank(pixels, _bank_index(images))


def _bank_index(images: list[np.ndarray]) -> list[tuple[int, int, int]]:
    """``(offset, height, width)`` of each image in the flat buffer that holds them one after another."""
    index, offset = [], 0
    for image in images:
        index.append((offset, image.shape[0], image.shape[1]))
        offset += image.size
    return index
