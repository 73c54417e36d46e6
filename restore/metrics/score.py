"""Score a folder of super-resolved images against their ground truth, under the papers' protocol.

Files are paired by name: the HR stem (with any ``_HR``/``x<s>`` decoration removed) must start the
SR stem, followed by nothing, a separator or ``x<s>``, so ``baby.png`` or ``baby_HR_x4.png`` pairs
with ``baby_RCAN_x4.png``, ``babyx4.png``, ``baby_x4_SR.png`` and ``baby_RCAN+_x4.png``. HR images
are modcropped to the scale, both sides are scored on MATLAB luma with ``scale`` pixels shaved.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from restore.errors import DataError
from restore.io.image import read_image
from restore.io.suffixes import IMAGE_SUFFIXES
from restore.metrics.imresize import modcrop
from restore.metrics.psnr_ssim import SSIM_WINDOW, psnr, ssim

__all__ = ["list_images", "pair_images", "score_folder"]

_SEPARATORS = "_-. "
_MAX_NAMES_SHOWN = 10


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name; DataError if it is not a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _hr_key(stem: str, scale: int) -> str:
    """The HR stem without the ``_HR`` / ``x<s>`` decorations some releases add (``baby_HR_x4``)."""
    decoration = re.compile(rf"(?:[{re.escape(_SEPARATORS)}]?(?:HR|[xX]{scale}))$")
    previous = None
    while previous != stem:
        previous, stem = stem, decoration.sub("", stem)
    return stem or previous


def _matches(sr_stem: str, key: str, scale: int) -> bool:
    if not sr_stem.startswith(key):
        return False
    rest = sr_stem[len(key):]
    return rest == "" or rest[0] in _SEPARATORS or rest.lower().startswith(f"x{scale}")


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_NAMES_SHOWN])
    return shown + (f" and {len(items) - _MAX_NAMES_SHOWN} more" if len(items) > _MAX_NAMES_SHOWN else "")


def pair_images(sr_files: list[Path], hr_files: list[Path], scale: int) -> list[tuple[str, Path, Path]]:
    """Pair each HR file with its one SR file: ``[(name, sr_path, hr_path)]`` in HR name order.

    Raises DataError naming the HR images that have no SR file, or that match several.
    """
    by_key: dict[str, Path] = {}
    for hr_path in hr_files:
        key = _hr_key(hr_path.stem, scale)
        if key in by_key:
            raise DataError(f"{hr_path} and {by_key[key]} both stand for the image {key!r}")
        by_key[key] = hr_path
    # Longest key first, so that an SR file pairs with "img_1_a" rather than with "img_1".
    keys = sorted(by_key, key=len, reverse=True)
    claimed: dict[str, list[Path]] = {key: [] for key in by_key}
    for sr_path in sr_files:
        for key in keys:
            if _matches(sr_path.stem, key, scale):
                claimed[key].append(sr_path)
                break
    missing = sorted(key for key, found in claimed.items() if not found)
    if missing:
        raise DataError(f"no SR image for {len(missing)} of {len(by_key)} HR images: {_names(missing)}")
    ambiguous = sorted(key for key, found in claimed.items() if len(found) > 1)
    if ambiguous:
        examples = [f"{key} ({', '.join(p.name for p in claimed[key])})" for key in ambiguous]
        raise DataError(f"several SR images for {_names(examples)}; keep one per image in the folder")
    return [(key, claimed[key][0], by_key[key]) for key in sorted(by_key)]


def _as_tensor(array: Any) -> torch.Tensor:
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)


def _grey_to_rgb(image: torch.Tensor) -> torch.Tensor:
    return image.expand(-1, 3, -1, -1) if image.shape[1] == 1 else image


def score_folder(
    sr_dir: str | os.PathLike, hr_dir: str | os.PathLike, scale: int, *, y_channel: bool = True
) -> dict[str, Any]:
    """Mean and per-image PSNR/SSIM of the SR images in ``sr_dir`` against ``hr_dir``.

    HR images are modcropped to ``scale`` and ``scale`` border pixels are shaved, as in the RCAN and
    RDN authors' MATLAB scripts. A greyscale image is repeated to three channels before scoring,
    as those scripts do. Returns ``{"psnr": mean, "ssim": mean, "images": [{"name", "psnr", "ssim"}]}``.
    """
    if scale < 1:
        raise DataError(f"scale must be a positive integer, got {scale}")
    hr_files = list_images(hr_dir)
    if not hr_files:
        raise DataError(f"{hr_dir}: no images found")
    pairs = pair_images(list_images(sr_dir), hr_files, scale)
    images = []
    for name, sr_path, hr_path in pairs:
        sr = _as_tensor(read_image(sr_path))
        hr = modcrop(_as_tensor(read_image(hr_path)), scale)
        if sr.shape[-2:] != hr.shape[-2:]:
            raise DataError(
                f"{sr_path}: size {sr.shape[-1]}x{sr.shape[-2]} does not match its HR {hr_path.name} "
                f"cropped to a multiple of {scale} ({hr.shape[-1]}x{hr.shape[-2]})"
            )
        smallest = 2 * scale + SSIM_WINDOW
        if min(hr.shape[-2:]) < smallest:
            raise DataError(
                f"{sr_path}: {sr.shape[-1]}x{sr.shape[-2]} is too small to score at x{scale}: the protocol shaves "
                f"{scale} pixels from every side and SSIM needs a {SSIM_WINDOW}x{SSIM_WINDOW} window, so images "
                f"need at least {smallest}x{smallest} pixels"
            )
        if y_channel or sr.shape[1] != hr.shape[1]:
            sr, hr = _grey_to_rgb(sr), _grey_to_rgb(hr)
        images.append(
            {
                "name": name,
                "psnr": float(psnr(sr, hr, crop_border=scale, y_channel=y_channel)),
                "ssim": float(ssim(sr, hr, crop_border=scale, y_channel=y_channel)),
            }
        )
    return {
        "psnr": sum(item["psnr"] for item in images) / len(images),
        "ssim": sum(item["ssim"] for item in images) / len(images),
        "images": images,
    }
