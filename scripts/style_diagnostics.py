"""Diagnostics of a SANet style model, behind the findings in docs/style.md.

    .venv/bin/python scripts/style_diagnostics.py tap-shares MODEL [MODEL ...] [--pairs 8]
        Per-tap share (relu1_1 .. relu5_1) of the held-out style distance between each model's alpha-1 outputs
        and their paintings, and the outputs' mean RGB beside the paintings' (average over the pairs, and its
        spread from pair to pair): whether the loss sees colour, and whether the palette follows the painting.

    .venv/bin/python scripts/style_diagnostics.py identity-steps MODEL [--steps 200] [--lr 1e-4] [--pixel-only]
        Fine-tunes transformer + decoder from MODEL on the identity losses alone (64-pixel content crops of the
        recipe's training photos, batch 4, raw VGG-16 features) and prints the alpha-0 reconstruction PSNR of 8
        held-out photos at 128 px every 50 steps: how fast the decoder learns to invert the encoder by itself.

    .venv/bin/python scripts/style_diagnostics.py palette MODEL [MODEL ...] [--pairs 8]
        Where the colours go: per held-out pair the L*a*b* mean of the content, the painting, the alpha-1 output
        and the alpha-0 reconstruction; the spread of those means over the pairs; the chroma of outputs and
        reconstructions relative to their targets; palette distances (restore.metrics.palette); and whether the
        self-transform T(c, c) keeps the content's relu4_1 (cosine of what the attention adds with it).

    .venv/bin/python scripts/style_diagnostics.py gradient-shares MODEL [--batches 3]
        The gradient norm each weighted training loss term puts on the decoder (and on its last conv, the one
        that writes RGB) for a few training batches at 128 px, with the recipe's normalised loss features:
        which term the decoder listens to.

    .venv/bin/python scripts/style_diagnostics.py colour-steps MODEL [--steps 60] [--weights 1,3,500,1] [--lr 2e-4]
        Fine-tunes transformer + decoder from MODEL for a few steps of a recipe variant (128-pixel crops, batch 2,
        normalised loss features, the given loss weights content,style,identity1,identity2 and learning rate; no
        weight average), then prints palette and reconstruction measures on 8 held-out pairs at 256 px: whether a
        change makes the decoder render colour, before spending core-hours on it.

All use the split of options/sanet-vgg16.yml and one thread; nothing is written.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from restore.metrics.color import rgb_to_lab
from restore.metrics.palette import palette_distance
from restore.paths import REPO_ROOT, data_root
from restore.style import losses
from restore.style.data import image_tensor
from restore.style.evaluate import held_out_names, held_out_pairs, load_square, stylised_pairs
from restore.style.models import load_style_model
from restore.style.train import StyleTrainer, load_style_options

RECIPE = REPO_ROOT / "options" / "sanet-vgg16.yml"


def _held_out(pair_count: int) -> tuple[Path, list]:
    """The data root and the first ``pair_count`` held-out (content, style) pairs of the shipped recipe."""
    options = load_style_options(RECIPE)
    root = data_root(None)
    pairs = held_out_pairs(*held_out_names(options.data.content, options.data.style, options.data.holdout_every, root))
    return root, pairs[:pair_count]


def _psnr(image: torch.Tensor, reference: torch.Tensor) -> float:
    return float(-10 * torch.log10(F.mse_loss(image, reference)))


@torch.no_grad()
def tap_shares(models: list[str], pair_count: int, size: int) -> None:
    root, pairs = _held_out(pair_count)
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


def _lab_mean(image: torch.Tensor) -> np.ndarray:
    return rgb_to_lab(image).mean(dim=(0, 2, 3)).numpy()


def _chroma(image: torch.Tensor) -> float:
    return float(rgb_to_lab(image)[:, 1:].norm(dim=1).mean())


@torch.no_grad()
def palette(models: list[str], pair_count: int, size: int) -> None:
    root, pairs = _held_out(pair_count)
    for path in models:
        network = load_style_model(path).float()
        rows = []
        for content, style, content_taps, _, output in stylised_pairs(network, root, pairs, size):
            reconstruction = network.decode(network.transform(content_taps, content_taps)).clamp(0, 1)
            # What the self-attention adds to relu4_1 in T(c, c): near-orthogonal means the content passes intact.
            added = network.transformer.sanet4_1(content_taps[3], content_taps[3]) - content_taps[3]
            rows.append({
                "cosine_added_content": float(F.cosine_similarity(added.flatten(), content_taps[3].flatten(), dim=0)),
                "lab": [_lab_mean(image) for image in (content, style, output, reconstruction)],
                "chroma_output": _chroma(output) / _chroma(style),
                "chroma_reconstruction": _chroma(reconstruction) / _chroma(content),
                "palette_output": palette_distance(output, style),
                "palette_content": palette_distance(content, style),
                "palette_reconstruction": palette_distance(reconstruction, content),
                "psnr": _psnr(reconstruction, content),
            })
        print(f"{path} ({len(pairs)} held-out pairs, {size} px)")
        print("  L*a*b* means per pair: content | painting | output | reconstruction")
        for row in rows:
            print("   " + " | ".join(" ".join(f"{v:6.1f}" for v in lab) for lab in row["lab"]))
        for index, who in enumerate(("content", "painting", "output", "reconstruction")):
            means = np.array([row["lab"][index] for row in rows])
            print(f"  {who:>14}: mean a* {means[:, 1].mean():5.1f} (spread {means[:, 1].std():4.1f}), "
                  f"mean b* {means[:, 2].mean():5.1f} (spread {means[:, 2].std():4.1f})")
        mean = {key: float(np.mean([row[key] for row in rows])) for key in rows[0] if key != "lab"}
        print(f"  chroma output/painting {mean['chroma_output']:.2f}, reconstruction/content "
              f"{mean['chroma_reconstruction']:.2f}; palette distance output->painting {mean['palette_output']:.2f} "
              f"(content->painting {mean['palette_content']:.2f}), reconstruction->content "
              f"{mean['palette_reconstruction']:.2f}; alpha-0 reconstruction {mean['psnr']:.2f} dB; cosine of the "
              f"attention's addition to relu4_1 in T(c, c) with relu4_1 itself {mean['cosine_added_content']:.3f}")


def gradient_shares(model: str, batches: int) -> None:
    options = load_style_options(RECIPE)
    options = dataclasses.replace(
        options, name="style-diagnostics", runs_dir="runs/_diagnostics",
        train=dataclasses.replace(options.train, init_from=model, normalised_loss_features=True),
    )
    trainer = StyleTrainer(options, log=lambda message: None)
    weights = options.train.weights
    decoder = trainer.network.decoder
    for index in range(batches):
        terms = trainer.loss_terms(*trainer.batch(index))
        parts = []
        for name, value in terms.items():
            trainer.optimizer.zero_grad(set_to_none=True)
            (getattr(weights, name) * value).backward(retain_graph=True)
            whole = torch.sqrt(sum((p.grad ** 2).sum() for p in decoder.parameters() if p.grad is not None))
            last = torch.sqrt(sum((p.grad ** 2).sum() for p in decoder[-1].parameters()))
            parts.append(f"{name} {getattr(weights, name) * value.item():.2f} (|grad| decoder {float(whole):.3g}, "
                         f"last conv {float(last):.3g})")
        print(f"batch {index}: " + "; ".join(parts), flush=True)


def colour_steps(model: str, steps: int, weights: str, lr: float, pair_count: int) -> None:
    from restore.style.train import LossWeights

    options = load_style_options(RECIPE)
    options = dataclasses.replace(
        options, name="style-diagnostics", runs_dir="runs/_diagnostics",
        data=dataclasses.replace(options.data, crop=128, batch_size=2),
        train=dataclasses.replace(options.train, init_from=model, lr=lr, ema=0.0, normalised_loss_features=True,
                                  weights=LossWeights(*(float(w) for w in weights.split(",")))),
    )
    trainer = StyleTrainer(options, log=lambda message: None)
    started = time.monotonic()
    for step in range(steps):
        for group in trainer.optimizer.param_groups:
            group["lr"] = trainer.learning_rate(step)
        values = trainer.step(*trainer.batch(step))
        if (step + 1) % 10 == 0:
            print(f"step {step + 1} ({time.monotonic() - started:.0f} s): "
                  + " ".join(f"{k}={v:.3g}" for k, v in values.items()), flush=True)
    network = trainer.network.eval()
    root, pairs = _held_out(pair_count)
    rows = []
    with torch.no_grad():
        for content, style, content_taps, style_taps, output in stylised_pairs(network, root, pairs, 256):
            reconstruction = network.decode(network.transform(content_taps, content_taps)).clamp(0, 1)
            rows.append([palette_distance(output, style), _psnr(reconstruction, content),
                         _chroma(reconstruction) / _chroma(content), _chroma(output) / _chroma(style),
                         float(losses.style_loss(network.encode(output), style_taps))])
    mean = np.mean(rows, axis=0)
    print(f"after {steps} steps (weights {weights}, lr {lr:g}): palette distance output->painting {mean[0]:.2f}, "
          f"alpha-0 reconstruction {mean[1]:.2f} dB, chroma reconstruction/content {mean[2]:.2f}, "
          f"output/painting {mean[3]:.2f}, style loss {mean[4]:.2f} ({pair_count} held-out pairs, 256 px)")


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
    colours = commands.add_parser("palette")
    colours.add_argument("models", nargs="+")
    colours.add_argument("--pairs", type=int, default=8)
    colours.add_argument("--size", type=int, default=256)
    gradients = commands.add_parser("gradient-shares")
    gradients.add_argument("model")
    gradients.add_argument("--batches", type=int, default=3)
    probe = commands.add_parser("colour-steps")
    probe.add_argument("model")
    probe.add_argument("--steps", type=int, default=60)
    probe.add_argument("--weights", default="1,3,500,1")
    probe.add_argument("--lr", type=float, default=2e-4)
    probe.add_argument("--pairs", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.command == "tap-shares":
        tap_shares(args.models, args.pairs, args.size)
    elif args.command == "palette":
        palette(args.models, args.pairs, args.size)
    elif args.command == "gradient-shares":
        gradient_shares(args.model, args.batches)
    elif args.command == "colour-steps":
        colour_steps(args.model, args.steps, args.weights, args.lr, args.pairs)
    else:
        identity_steps(args.model, args.steps, args.lr, args.pixel_only, args.every)


if __name__ == "__main__":
    main()
