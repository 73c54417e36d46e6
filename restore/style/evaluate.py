"""Held-out evaluation of a style model: the paper's content and style losses, and a contact sheet.

The held-out images are the recipe's split (every ``holdout_every``-th sorted content and style, listed in
the run's ``split.json`` and the model card). Pairs are formed deterministically, content k with style
``(k * stride) mod S``, so every held-out content and every held-out style is used and the set does not
change between models. Each image is resized (short side) and centre-cropped to ``size`` pixels, the
resolution the losses are computed at; lower is better for both losses.

Beside the losses: the palette distance (sliced Wasserstein distance between L*a*b* colour distributions,
``restore.metrics.palette``) of each output to its painting, next to the content photo's own distance to that
painting, and the alpha-0 reconstruction PSNR.

``palette``: "network" (the default here, so numbers stay comparable with earlier models') scores the decoder's
own colours; "painting" first applies the palette matching ``stylize`` applies by default
(``restore.style.stylize.take_palette``, the same function), so the numbers say what users get.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from restore.archs.sanet import SANet
from restore.metrics.palette import palette_distance
from restore.style import losses
from restore.style.data import image_tensor, list_images, split_holdout
from restore.style.stylize import PALETTES, take_palette


def held_out_names(content_folders: list[str], style_folders: list[str], holdout_every: int,
                   root: Path) -> tuple[list[str], list[str]]:
    """The held-out content and style names of a recipe's split, as root-relative paths."""
    _, contents = split_holdout(list_images(root, content_folders), holdout_every)
    _, styles = split_holdout(list_images(root, style_folders), holdout_every)
    return contents, styles


def held_out_pairs(contents: list[str], styles: list[str], count: int | None = None) -> list[tuple[str, str]]:
    """``count`` (default: max of the two list lengths) content/style pairs covering both lists."""
    count = count or max(len(contents), len(styles))
    # A stride coprime with the style count walks through all styles before repeating one.
    stride = next(s for s in range(7, 7 + len(styles) + 1) if math.gcd(s, len(styles)) == 1)
    return [(contents[k % len(contents)], styles[(k * stride) % len(styles)]) for k in range(count)]


def load_square(path: Path, size: int) -> np.ndarray:
    """Resize so the short side is ``size`` (bicubic), then centre-crop to ``size`` x ``size``. uint8 (H, W, 3)."""
    with Image.open(path) as image:
        image.draft("RGB", (size * 2, size * 2))
        image = image.convert("RGB")
        width, height = image.size
        factor = size / min(width, height)
        width, height = max(size, round(width * factor)), max(size, round(height * factor))
        image = image.resize((width, height), Image.BICUBIC)
        left, top = (width - size) // 2, (height - size) // 2
        return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def stylised_pairs(network: SANet, root: Path, pairs: list[tuple[str, str]], size: int, palette: str = "network"):
    """For each pair, square-loaded at ``size``: content, style, their taps, and the alpha-1 output in [0, 1],
    with ``palette="painting"`` in the painting's L*a*b* moments as ``stylize`` gives it.

    Shape: yields (1, 3, S, S), (1, 3, S, S), 5 maps, 5 maps, (1, 3, S, S). Call under ``torch.no_grad``.
    """
    device = next(network.parameters()).device
    for content_name, style_name in pairs:
        content = image_tensor(load_square(root / content_name, size)).to(device)
        style = image_tensor(load_square(root / style_name, size)).to(device)
        content_taps, style_taps = network.encode(content), network.encode(style)
        output = network.decode(network.transform(content_taps, style_taps)).clamp(0, 1)
        if palette == "painting":
            output = take_palette(output, content, [style], alpha=1.0).clamp(0, 1)
        yield content, style, content_taps, style_taps, output


@torch.no_grad()
def held_out_losses(network: SANet, root: Path, pairs: list[tuple[str, str]], size: int = 256,
                    palette: str = "network") -> dict:
    """Mean paper content and style losses of ``network``'s stylisations (alpha 1) over ``pairs``, and two checks.

    ``style_loss_mismatched``: the same outputs' style loss against the *next* pair's style. A model that paints
    one texture whatever the style scores about the same on both; one that follows its style scores lower on
    the matched one. ``reconstruction_psnr``: mean PSNR (dB, RGB in [0, 1]) of the content decoded from its own
    self-transform (alpha 0), how much content structure the decoder keeps. ``palette_distance``: mean sliced
    Wasserstein distance (L*a*b* units) between each output's colours and its painting's, beside
    ``palette_distance_content`` (the content photo's own distance to that painting, what no transfer scores) and
    ``palette_closer_pairs`` (how many outputs are closer to their painting than their content is) and
    ``palette_distance_mismatched`` (the same outputs against the next pair's painting: an output in one palette
    whatever the painting scores about the same on both). ``palette``: whose colours the outputs carry
    ("network" or "painting", see the module's docstring); recorded in the result.
    """
    if palette not in PALETTES:
        raise ValueError(f"palette must be one of {', '.join(PALETTES)}, got {palette!r}")
    network.eval()
    content_values, psnr_values, palette_output, palette_content = [], [], [], []
    outputs, paintings = [], []
    # Only the channel statistics are needed for the style losses: keep them, not the full maps.
    output_statistics, style_statistics = [], []
    for content, style, content_taps, style_taps, output in stylised_pairs(network, root, pairs, size, palette):
        output_taps = network.encode(output)
        palette_output.append(palette_distance(output, style))
        palette_content.append(palette_distance(content, style))
        outputs.append(output)
        paintings.append(style)
        content_values.append(float(losses.content_loss(output_taps, content_taps)))
        output_statistics.append(losses.style_statistics(output_taps))
        style_statistics.append(losses.style_statistics(style_taps))
        reconstruction = network.decode(network.transform(content_taps, content_taps)).clamp(0, 1)
        psnr_values.append(float(-10 * torch.log10(torch.mean((reconstruction - content) ** 2).clamp_min(1e-10))))
    style_values = [float(losses.style_distance(out, style)) for out, style in zip(output_statistics, style_statistics)]
    mismatched_values = [
        float(losses.style_distance(out, style_statistics[(index + 1) % len(pairs)]))
        for index, out in enumerate(output_statistics)
    ]
    return {
        "pairs": len(pairs),
        "size": size,
        "palette": palette,
        "content_loss": float(np.mean(content_values)),
        "style_loss": float(np.mean(style_values)),
        "style_loss_mismatched": float(np.mean(mismatched_values)),
        "reconstruction_psnr": float(np.mean(psnr_values)),
        "palette_distance": float(np.mean(palette_output)),
        "palette_distance_content": float(np.mean(palette_content)),
        "palette_closer_pairs": int(sum(o < c for o, c in zip(palette_output, palette_content))),
        "palette_distance_mismatched": float(np.mean([
            palette_distance(output, paintings[(index + 1) % len(pairs)]) for index, output in enumerate(outputs)])),
    }


def contact_sheet(network: SANet, root: Path, pairs: list[tuple[str, str]], output: Path,
                  cell: int = 192, alphas: tuple[float, ...] = (1.0, 0.5), optimize: bool = False,
                  palette: str = "network") -> Path:
    """One row per pair: content, style, then the stylisation at each alpha (``stylize``'s ``palette``) and, with
    ``optimize``, the pixel optimisation of ``restore.style.optimize`` (the yardstick; minutes per row); written as
    PNG or JPEG."""
    from restore.style.optimize import optimize_stylize
    from restore.style.stylize import stylize

    header = 22
    columns = ["content", "style"] + [f"alpha {alpha:g}" for alpha in alphas] + (["optimize"] if optimize else [])
    sheet = Image.new("RGB", (cell * len(columns), header + cell * len(pairs)), "white")
    draw = ImageDraw.Draw(sheet)
    for column, title in enumerate(columns):
        draw.text((column * cell + 6, 5), title, fill="black")
    for row, (content_name, style_name) in enumerate(pairs):
        content = load_square(root / content_name, cell)
        style = load_square(root / style_name, cell)
        cells = [content, style] + [stylize(content, style, alpha=alpha, model=network, palette=palette)
                                 for alpha in alphas]
        if optimize:
            cells.append(optimize_stylize(content, style, encoder=network.encoder))
        for column, array in enumerate(cells):
            sheet.paste(Image.fromarray(array), (column * cell, header + row * cell))
    output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(output, quality=90) if output.suffix.lower() in (".jpg", ".jpeg") else sheet.save(output)
    return output
