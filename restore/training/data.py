"""Training data: HR folders decoded once, LR made by the MATLAB-exact degradation, cached as uint8.

Decoding ~400 images and degrading them costs tens of seconds; a training step costs about one. So the
whole set is decoded and degraded once per scale and kept as one flat uint8 array (plus an index) in
the cache folder; later runs memory-map it. Patches are sliced from those arrays with a seeded numpy
generator, so batches are reproducible and their order survives a resume exactly.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from restore.paths import cache_dir
from restore.io.suffixes import IMAGE_SUFFIXES

CACHE_VERSION = 1


@dataclass
class PairIndex:
    name: str
    hr_offset: int
    hr_shape: tuple[int, int, int]
    lr_offset: int
    lr_shape: tuple[int, int, int]


def list_images(folders: list[Path]) -> list[Path]:
    files = []
    for folder in folders:
        files += sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return files


def _fingerprint(files: list[Path], scale: int) -> str:
    digest = hashlib.sha256(f"v{CACHE_VERSION} x{scale}".encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path.resolve()}|{stat.st_size}|{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def _decode_and_degrade(path: Path, scale: int) -> tuple[np.ndarray, np.ndarray]:
    from restore.io.image import read_image
    from restore.metrics.imresize import bicubic_degrade, modcrop

    hr = read_image(path)
    if hr.shape[2] == 1:
        hr = np.repeat(hr, 3, axis=2)
    hr = hr[..., :3]
    hr_t = torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1)
    lr_t = bicubic_degrade(hr_t, scale)
    hr_t = modcrop(hr_t, scale)
    return hr_t.permute(1, 2, 0).contiguous().numpy(), lr_t.permute(1, 2, 0).contiguous().numpy()


class PatchCache:
    """All (HR, LR) pairs of a folder list at one scale, in one flat uint8 array."""

    def __init__(self, pixels: np.ndarray, index: list[PairIndex], scale: int) -> None:
        self.pixels = pixels
        self.index = index
        self.scale = scale

    @classmethod
    def build(cls, folders: list[Path], scale: int, *, cache_root: Path | None = None, log=print) -> PatchCache:
        files = list_images(folders)
        root = (cache_root or cache_dir()) / "train"
        key = _fingerprint(files, scale)
        data_path, index_path = root / f"pairs_x{scale}_{key}.u8", root / f"pairs_x{scale}_{key}.json"
        if data_path.exists() and index_path.exists():
            index = [PairIndex(**{**e, "hr_shape": tuple(e["hr_shape"]), "lr_shape": tuple(e["lr_shape"])})
                     for e in json.loads(index_path.read_text())]
            pixels = np.memmap(data_path, dtype=np.uint8, mode="r")
            return cls(np.asarray(pixels), index, scale)
        log(f"decoding and degrading {len(files)} training images at x{scale} (cached for later runs)")
        chunks, index, offset = [], [], 0
        for path in files:
            hr, lr = _decode_and_degrade(path, scale)
            index.append(PairIndex(path.name, offset, hr.shape, offset + hr.size, lr.shape))
            chunks += [hr.reshape(-1), lr.reshape(-1)]
            offset += hr.size + lr.size
        pixels = np.concatenate(chunks)
        root.mkdir(parents=True, exist_ok=True)
        # Temporary names of this process's own, and the index last: the nodes of a torchrun launch may build
        # the same cache in one shared folder at once, and a reader must never find half of it.
        tmp = data_path.with_suffix(f".{os.getpid()}.tmp")
        pixels.tofile(tmp)
        tmp.replace(data_path)
        tmp_index = index_path.with_suffix(f".{os.getpid()}.tmp")
        tmp_index.write_text(json.dumps([e.__dict__ for e in index]))
        tmp_index.replace(index_path)
        return cls(pixels, index, scale)

    def hr(self, i: int) -> np.ndarray:
        e = self.index[i]
        return self.pixels[e.hr_offset : e.hr_offset + int(np.prod(e.hr_shape))].reshape(e.hr_shape)

    def lr(self, i: int) -> np.ndarray:
        e = self.index[i]
        return self.pixels[e.lr_offset : e.lr_offset + int(np.prod(e.lr_shape))].reshape(e.lr_shape)


class PatchSampler:
    """Random LR patches with their HR counterparts, flipped and rotated (8 dihedral transforms).

    ``sampling="area"`` draws images in proportion to the patch positions they offer (uniform over
    pixels); ``"image"`` draws every image equally. Images smaller than a patch are skipped.
    """

    def __init__(self, cache: PatchCache, patch_size: int, batch_size: int, sampling: str = "area") -> None:
        self.cache, self.patch, self.batch = cache, patch_size, batch_size
        # Both sides must hold a patch: a product of two negative spans would look usable.
        sizes = [max(0, e.lr_shape[0] - patch_size + 1) * max(0, e.lr_shape[1] - patch_size + 1) for e in cache.index]
        self.usable = np.array([i for i, n in enumerate(sizes) if n > 0])
        if len(self.usable) == 0:
            raise ValueError(f"no training image is large enough for {patch_size}px LR patches")
        weights = np.array([sizes[i] for i in self.usable], dtype=np.float64)
        if sampling == "image":
            weights = np.ones_like(weights)
        self.probabilities = weights / weights.sum()

    def sample(self, rng: np.random.Generator, part: range | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Shape: -> LR (b, 3, p, p) and HR (b, 3, s*p, s*p), float32 in [0, 255].

        ``part``: which samples of the batch of B to return (b = len(part); default all). Every random number
        of the whole batch is drawn whatever ``part`` is, so the ranks of a torchrun launch, each taking its
        part, together hold exactly the batch one process draws from the same generator.
        """
        p, s = self.patch, self.cache.scale
        wanted = range(self.batch) if part is None else part
        images = rng.choice(self.usable, size=self.batch, p=self.probabilities)
        lrs, hrs = [], []
        for position, i in enumerate(images):
            lr, hr = self.cache.lr(i), self.cache.hr(i)
            y = int(rng.integers(0, lr.shape[0] - p + 1))
            x = int(rng.integers(0, lr.shape[1] - p + 1))
            transform = int(rng.integers(0, 8))
            if position not in wanted:
                continue
            lr_patch = lr[y : y + p, x : x + p]
            hr_patch = hr[s * y : s * (y + p), s * x : s * (x + p)]
            lrs.append(_dihedral(lr_patch, transform))
            hrs.append(_dihedral(hr_patch, transform))
        lr_batch = torch.from_numpy(np.stack(lrs)).permute(0, 3, 1, 2).float()
        hr_batch = torch.from_numpy(np.stack(hrs)).permute(0, 3, 1, 2).float()
        return lr_batch, hr_batch


def _dihedral(patch: np.ndarray, transform: int) -> np.ndarray:
    if transform & 1:
        patch = patch[:, ::-1]
    if transform & 2:
        patch = patch[::-1]
    if transform & 4:
        patch = patch.transpose(1, 0, 2)
    return np.ascontiguousarray(patch)
