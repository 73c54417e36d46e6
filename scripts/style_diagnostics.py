"""Diagnostics of a SANet style model, behind the findings in docs/style.md.

    .venv/bin/python scripts/style_diagnostics.py tap-shares MODEL [MODEL ...] [--pairs 8]
        Per-tap share (relu1_1 .. relu5_1) of the held-out style distance between each model's alpha-1 outputs
        and their paintings, and the outputs' mean RGB beside the paintings' (average over the pairs, and its
        spread from pair to pair): whether the loss sees colour, and whether the palette follows the painting.

    .venv/bin/python scripts/style_diagnostics.py identity-steps MODEL [--steps 200] [--lr 1e-4] [--pixel-only]
        Fine-tunes transformer + decoder from MODEL on the identity losses alone (64-pixel content crops of the
        recipe's training photos, batch 4, raw VGG-16 features) and prints the alpha-0 reconstruction PSNR of 8
        held-out photos at 128 px every 50 steps: how fast the decoder learns to invert the encoder by itself.

Both use the split of options/sanet-vgg16.yml and one thread; nothing is written.
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
import torch.nn.functional as F

from restore.paths import REPO_ROOT, data_root
from restore.style import losses
from restore.style.data import image_tensor
from restore.style.evaluate import held_out_names, held_out_pairs, load_square, stylised_pairs
from restore.style.models import load_style_model
from restore.style.train import StyleTrainer, load_style_options

RECIPE = REPO_ROOT / "options" / "sanet-vgg16.yml"


def _psnr(image: torch.Tensor, reference: torch.Tensor) -> float:
    return float(-10 * torch.log10(F.mse_loss(image, reference)))


@torch.no_grad()
def tap_shares(models: list[str], pair_count: int, size: int) -> None:
    options = load_style_options(RECIPE)
    root = data_root(None)
    pairs = held_out_pairs(*held_out_names(options.data.content, options.data.style, options.data.holdout_every, root))
    pairs = pairs[:pair_count]
    for path in models:
        network = load_style_model(path).float()
        per_tap = np.zeros(5)
        output_rgb, style_rgb = [], []
        for _, style, _, style_taps, output in stylised_pairs(network, root, pairs, size):
            output_statistics = losses.style_statistics(network.encode(output))
            style_statistics = losses.style_statistics(style_taps)
            per_tap += [float(losses.style_distance([out], [target]))
                        for out, target in zip(output_statistics, style_statistics)]
            output_rgb.append(output.mean(dim=(0, 2, 3)).numpy())
            style_rgb.append(style.mean(dim=(0, 2, 3)).numpy())
        shares = ", ".join(f"{share:.1%}" for share in per_tap / per_tap.sum())

        def rgb(values: list[np.ndarray]) -> str:
            mean, spread = np.mean(values, axis=0), np.std(values, axis=0)
            return f"({', '.join(f'{v:.2f}' for v in mean)}) (spread {', '.join(f'{v:.3f}' for v in spread)})"

        print(f"{path}: style distance {per_tap.sum() / len(pairs):.3f} per pair; shares relu1_1..relu5_1 {shares}; "
              f"mean RGB of outputs {rgb(output_rgb)}, of paintings {rgb(style_rgb)} "
              f"({len(pairs)} held-out pairs, {size} px)")


def identity_steps(model: str, steps: int, lr: float, pixel_only: bool, every: int) -> None:
    options = load_style_options(RECIPE)
    options = dataclasses.replace(
        options,
        name="style-diagnostics",
        runs_dir="runs/_diagnostics",
        data=dataclasses.replace(options.data, crop=64, batch_size=4),
        train=dataclasses.replace(options.train, init_from=model, normalised_loss_features=False),
    )
    trainer = StyleTrainer(options, log=lambda message: None)
    network = trainer.network
    root = data_root(None)
    contents, _ = held_out_names(options.data.content, options.data.style, options.data.holdout_every, root)
    held_out = [image_tensor(load_square(root / name, 128)) for name in contents[:8]]
    optimizer = torch.optim.Adam(
        list(network.transformer.parameters()) + list(network.decoder.parameters()), lr=lr
    )

    def held_out_psnr() -> float:
        network.eval()
        with torch.no_grad():
            values = []
            for image in held_out:
                taps = network.encode(image)
                values.append(_psnr(network.decode(network.transform(taps, taps)).clamp(0, 1), image))
        network.train()
        return float(np.mean(values))

    print(f"step 0: held-out reconstruction {held_out_psnr():.2f} dB", flush=True)
    started = time.monotonic()
    for step in range(1, steps + 1):
        content, _ = trainer.batch(100_000 + step)  # batches the recipe's own run never draws at these indices
        with torch.no_grad():
            taps = network.encode(content)
        reconstruction = network.decode(network.transform(taps, taps))
        pixel = losses.identity_pixel_loss(reconstruction, content)
        weights = options.train.weights
        loss = pixel if pixel_only else (
            weights.identity1 * pixel
            + weights.identity2 * losses.identity_feature_loss(network.encode(reconstruction), taps)
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % every == 0:
            print(f"step {step} ({time.monotonic() - started:.0f} s): held-out reconstruction "
                  f"{held_out_psnr():.2f} dB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    shares = commands.add_parser("tap-shares")
    shares.add_argument("models", nargs="+")
    shares.add_argument("--pairs", type=int, default=8)
    shares.add_argument("--size", type=int, default=256)
    identity = commands.add_parser("identity-steps")
    identity.add_argument("model")
    identity.add_argument("--steps", type=int, default=200)
    identity.add_argument("--lr", type=float, default=1e-4)
    identity.add_argument("--pixel-only", action="store_true")
    identity.add_argument("--every", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.command == "tap-shares":
        tap_shares(args.models, args.pairs, args.size)
    else:
        identity_steps(args.model, args.steps, args.lr, args.pixel_only, args.every)


if __name__ == "__main__":
    main()
