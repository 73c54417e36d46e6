"""Y-PSNR/SSIM against the RCAN and RDN authors' MATLAB results files, colour conversions, image io."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from restore.errors import DataError
from restore.io.image import read_image, write_image
from restore.metrics.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from restore.metrics.imresize import imresize, modcrop
from restore.metrics.psnr_ssim import psnr, ssim
from restore.metrics.score import pair_images, score_folder

LAST_PLACE = 1e-6 + 1e-9  # the files print 6 decimals; allow one unit in the last place
_METHOD = re.compile(r"Method_\d+: (\S+); Set")
_IMAGE_ROW = re.compile(r"x(\d+) \d+ (\S+)\.png: PSNR= ([\d.]+) SSIM= ([\d.]+)")
_MEAN_ROW = re.compile(r"x(\d+): PSNR= ([\d.]+) SSIM= ([\d.]+)")


def parse_results(path: Path) -> tuple[list[dict], list[dict]]:
    """Per-image rows and per-scale means of a ``PSNR_SSIM_Results_BI_model.txt`` file."""
    images, means, method = [], [], None
    for line in path.read_text().splitlines():
        if found := _METHOD.match(line):
            method = found.group(1)
        elif found := _IMAGE_ROW.match(line):
            scale, name, value_psnr, value_ssim = found.groups()
            images.append({"method": method, "scale": int(scale), "name": name,
                           "psnr": float(value_psnr), "ssim": float(value_ssim)})
        elif found := _MEAN_ROW.match(line):
            scale, value_psnr, value_ssim = found.groups()
            means.append({"method": method, "scale": int(scale), "psnr": float(value_psnr), "ssim": float(value_ssim)})
    return images, means


def _load(path: Path) -> torch.Tensor:
    return torch.from_numpy(read_image(path)).permute(2, 0, 1).unsqueeze(0)


@pytest.mark.parametrize("release", ["rcan_set5", "rdn_set5"])
def test_per_image_numbers_match_authors_matlab(reference_dir: Path, release: str) -> None:
    rows, _ = parse_results(reference_dir / release / "PSNR_SSIM_Results_BI_model.txt")
    checked = 0
    for row in rows:
        scale, stem = row["scale"], row["name"].split("_")[0]
        sr_path = reference_dir / release / "SR" / row["method"] / f"x{scale}" / f"{row['name']}.png"
        if not sr_path.exists():  # x8 outputs are listed in RCAN's file but not published
            continue
        # The authors scored against Set5 modcropped to the scale (RCAN ships these HR crops).
        hr = _load(reference_dir / "rcan_set5" / "HR" / f"x{scale}" / f"{stem}_HR_x{scale}.png")
        sr = _load(sr_path)
        assert abs(psnr(sr, hr, crop_border=scale).item() - row["psnr"]) <= LAST_PLACE, row
        assert abs(ssim(sr, hr, crop_border=scale).item() - row["ssim"]) <= LAST_PLACE, row
        checked += 1
    assert checked == 30


@pytest.mark.parametrize("release, method", [("rcan_set5", "RCAN"), ("rdn_set5", "RDNplus")])
def test_folder_means_match_authors_matlab(reference_dir: Path, datasets_dir: Path, release: str, method: str) -> None:
    _, means = parse_results(reference_dir / release / "PSNR_SSIM_Results_BI_model.txt")
    for mean in (m for m in means if m["method"] == method and m["scale"] == 4):
        scale = mean["scale"]
        scores = score_folder(reference_dir / release / "SR" / method / f"x{scale}", datasets_dir / "Set5" / "HR", scale)
        assert [item["name"] for item in scores["images"]] == ["baby", "bird", "butterfly", "head", "woman"]
        assert abs(scores["psnr"] - mean["psnr"]) <= LAST_PLACE
        assert abs(scores["ssim"] - mean["ssim"]) <= LAST_PLACE


def test_shared_hr_modcropped_equals_rcan_hr_crops(reference_dir: Path, datasets_dir: Path) -> None:
    for scale in (2, 3, 4):
        full = _load(datasets_dir / "Set5" / "HR" / "woman.png")
        assert torch.equal(modcrop(full, scale), _load(reference_dir / "rcan_set5" / "HR" / f"x{scale}" / f"woman_HR_x{scale}.png"))


@pytest.mark.parametrize("scale, expected_psnr, expected_ssim", [(4, 28.43, 0.8111), (2, 33.67, 0.9303)])
def test_bicubic_baseline_on_set5(datasets_dir: Path, scale: int, expected_psnr: float, expected_ssim: float) -> None:
    values_psnr, values_ssim = [], []
    for hr_path in sorted((datasets_dir / "Set5" / "HR").glob("*.png")):
        hr = modcrop(_load(hr_path), scale)
        lr = _load(datasets_dir / "Set5" / "LR_bicubic" / f"X{scale}" / f"{hr_path.stem}x{scale}.png")
        upscaled = imresize(lr, scale)
        values_psnr.append(psnr(upscaled, hr, crop_border=scale).item())
        values_ssim.append(ssim(upscaled, hr, crop_border=scale).item())
    assert round(sum(values_psnr) / 5, 2) == expected_psnr
    assert round(sum(values_ssim) / 5, 4) == expected_ssim


def test_rgb_to_y_matlab_values() -> None:
    pixels = torch.tensor([[0, 0, 0], [255, 255, 255], [255, 0, 0], [10, 200, 30]], dtype=torch.uint8)
    image = pixels.T.reshape(1, 3, 1, 4)
    expected = [16.0, 235.0, 16 + 65.481, 16 + (65.481 * 10 + 128.553 * 200 + 24.966 * 30) / 255]
    torch.testing.assert_close(rgb_to_y(image).flatten(), torch.tensor(expected, dtype=torch.float64))
    assert torch.equal(rgb_to_y(image), rgb_to_ycbcr(image)[:, :1])
    assert rgb_to_y(image.float()).dtype == torch.float32


def test_ycbcr_round_trip() -> None:
    image = torch.randint(0, 256, (2, 3, 5, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(image)), image.double())
    grey = torch.full((1, 3, 1, 1), 128.0, dtype=torch.float64)
    torch.testing.assert_close(rgb_to_ycbcr(grey)[0, 1:].flatten(), torch.tensor([128.0, 128.0], dtype=torch.float64))


def test_psnr_and_ssim_basic_properties() -> None:
    image = torch.randint(0, 250, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    assert torch.isinf(psnr(image, image)).all()
    torch.testing.assert_close(ssim(image, image), torch.ones(2, dtype=torch.float64))
    shifted = image + 1
    assert psnr(shifted, image, y_channel=False).tolist() == pytest.approx([10 * math.log10(255**2)] * 2)
    assert psnr(shifted, image, crop_border=4).shape == (2,)
    assert (ssim(shifted, image, y_channel=False) < 1).all()


def test_psnr_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))


def test_pairing_ignores_method_and_scale_decorations(tmp_path: Path) -> None:
    hr = [tmp_path / f"{name}.png" for name in ("baby", "img_1", "img_10", "108005")]
    sr_names = ["baby_RCAN+_x4.png", "img_1x4.png", "img_10_SR.png", "108005_RCANplus_x4.png"]
    pairs = pair_images([tmp_path / name for name in sr_names], hr, 4)
    assert [(name, sr.name) for name, sr, _ in pairs] == [
        ("108005", "108005_RCANplus_x4.png"), ("baby", "baby_RCAN+_x4.png"),
        ("img_1", "img_1x4.png"), ("img_10", "img_10_SR.png"),
    ]
    decorated_hr = [tmp_path / "baby_HR_x4.png"]
    assert pair_images([tmp_path / "baby_x4_SR.png"], decorated_hr, 4)[0][0] == "baby"
    with pytest.raises(DataError, match="no SR image for 1 of 2 HR images: bird"):
        pair_images([tmp_path / "babyx4.png"], [tmp_path / "baby.png", tmp_path / "bird.png"], 4)


def test_read_write_image_round_trip(tmp_path: Path) -> None:
    colour = np.random.default_rng(5).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    grey = colour[..., :1].copy()
    write_image(tmp_path / "colour.png", colour)
    write_image(tmp_path / "grey.png", grey)
    assert np.array_equal(read_image(tmp_path / "colour.png"), colour)
    assert np.array_equal(read_image(tmp_path / "grey.png"), grey)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colour.png", "grey.png"]  # no temp files left


def test_read_image_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing.png: no such file"):
        read_image(tmp_path / "missing.png")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(DataError, match="corrupt.png: cannot read image"):
        read_image(corrupt)
    with pytest.raises(DataError, match="not a file"):
        read_image(tmp_path)
