"""``restore stylize CONTENT... --style S... -o OUTDIR``: SANet style transfer over files and folders."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from restore.errors import RestoreError
from restore.io.suffixes import IMAGE_SUFFIXES

HELP = "Transfer the style of one or more style images onto content images (every content x style pair, or --mix)."
METHODS = ("sanet", "optimize")
# restore.style.stylize.PALETTES, spelled here so that --help does not import torch.
PALETTES = ("painting", "network")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("content", nargs="+", help="content images or folders of images")
    parser.add_argument("--style", nargs="+", required=True, help="style images or folders of images")
    parser.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    parser.add_argument("--alpha", type=_unit_interval, default=1.0, help="style strength in [0, 1] (default 1)")
    parser.add_argument("--no-content-residual", dest="content_residual", action="store_false",
                        help="at --alpha < 1, blend features only (AdaIN's way) instead of also adding back the "
                             "content detail the decoder loses; by default --alpha 0 returns the content")
    parser.add_argument("--preserve-color", action="store_true",
                        help="keep the content's colours (chroma); replaces --palette")
    parser.add_argument("--palette", choices=PALETTES, default="painting",
                        help="painting (default): match the output's L*a*b* mean and spread to the painting's "
                        "(blended with the content's by --alpha); network: the trained decoder's own colours")
    parser.add_argument("--mix", action="store_true", help="blend all styles into one output per content")
    parser.add_argument("--style-weights", help="comma-separated weights for --mix, e.g. 0.7,0.3")
    parser.add_argument("--size", type=int, help="resize so the long side is N pixels (default: keep the size)")
    parser.add_argument("--model", help="style model file (default: models/sanet-vgg16.safetensors)")
    parser.add_argument("--method", choices=METHODS, default="sanet",
                        help="sanet (default): the trained network, seconds per image; optimize: Gatys et al.'s "
                        "pixel optimisation, no trained model, minutes per image (docs/style.md says when to use which)")
    parser.add_argument("--iterations", help="with --method optimize: L-BFGS iterations at the first (128-pixel) scale "
                        "and at each finer one (default 150,30)")
    parser.add_argument("--seed", type=int, default=0, help="with --method optimize: seed of the starting noise")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only failures")


def _unit_interval(text: str) -> float:
    """--alpha: a number in [0, 1], refused as a usage error before any image is read."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def expand_images(items: list[str]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted); a missing path is kept to fail later."""
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            paths.append(path)
    return paths


def _parse_weights(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise RestoreError(f"--style-weights expects numbers separated by commas, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from restore.io.image import read_image, write_image

    contents, styles = expand_images(args.content), expand_images(args.style)
    if not contents or not styles:
        raise RestoreError("no content or no style images found")
    weights = _parse_weights(args.style_weights)
    if weights is not None and not args.mix:
        raise RestoreError("--style-weights needs --mix")
    output_dir = Path(args.output)
    output_dir.mkdir(parents=True, exist_ok=True)
    render = _renderer(args, weights)

    style_images: dict[Path, object] = {}
    failures: list[str] = []
    for path in styles:
        try:
            style_images[path] = read_image(path)
        except RestoreError as exc:
            failures.append(f"{path}: {_reason(exc, path)}")
    usable = [path for path in styles if path in style_images]

    jobs: list[tuple[Path, list[Path], Path]] = []
    for content in contents:
        if args.mix:
            if usable:
                name = f"{content.stem}_{'+'.join(p.stem for p in usable)}.png"
                jobs.append((content, usable, output_dir / name))
        else:
            jobs += [(content, [style], output_dir / f"{content.stem}_{style.stem}.png") for style in usable]

    written = skipped = 0
    for content, job_styles, target in jobs:
        if target.exists() and not args.overwrite:
            skipped += 1
            continue
        try:
            result = render(content, [style_images[p] for p in job_styles])
            write_image(target, result)
        except (RestoreError, ValueError) as exc:
            failures.append(f"{content} x {'+'.join(p.name for p in job_styles)}: {_reason(exc, content)}")
            continue
        written += 1
        if not args.quiet:
            print(f"wrote {target}")
    if not args.quiet:
        print(f"{written} written, {skipped} skipped (exist; --overwrite to replace), {len(failures)} failed")
    if failures:
        print("failures:\n" + "\n".join(f"  {f}" for f in failures), file=sys.stderr)
        return 1
    return 0


def _renderer(args: argparse.Namespace, weights: list[float] | None):
    """``render(content_path, style_arrays) -> uint8 image`` for the chosen method; option mistakes raise here,
    before any image is read."""
    if args.method == "sanet":
        if args.iterations is not None:
            raise RestoreError("--iterations applies to --method optimize only")
        from restore.style.models import load_style_model
        from restore.style.stylize import stylize

        model = load_style_model(args.model)
        return lambda content, styles: stylize(content, styles, alpha=args.alpha, preserve_color=args.preserve_color,
                                               style_weights=weights, size=args.size, model=model,
                                               content_residual=args.content_residual, palette=args.palette)
    unsupported = [flag for flag, given in (("--mix", args.mix), ("--model", args.model is not None),
                                            ("--alpha", args.alpha != 1.0),
                                            ("--no-content-residual", not args.content_residual),
                                            ("--palette", args.palette != "painting")) if given]
    if unsupported:
        raise RestoreError(f"{', '.join(unsupported)}: only for --method sanet (optimize renders one style at full "
                           "strength and uses no model)")
    from tqdm import tqdm

    from restore.style.build import build_vgg16_encoder
    from restore.style.optimize import DEFAULT_ITERATIONS, optimize_stylize

    iterations = _parse_iterations(args.iterations) if args.iterations is not None else DEFAULT_ITERATIONS
    encoder = build_vgg16_encoder()

    def render(content: Path, styles: list) -> object:
        with tqdm(total=1, unit="eval", desc=content.name, leave=False, disable=args.quiet,
                  dynamic_ncols=True) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            return optimize_stylize(content, styles[0], size=args.size, iterations=iterations, seed=args.seed,
                                    preserve_color=args.preserve_color, progress=progress, encoder=encoder)

    return render


def _parse_iterations(text: str) -> tuple[int, int]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 2 or min(values) < 1:
        raise RestoreError(f"--iterations expects two positive counts separated by a comma, e.g. 150,30; got {text!r}")
    return values


def _reason(error: Exception, path: Path) -> str:
    """The error's first line without a repeated ``<path>: `` prefix."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    prefix = f"{path}: "
    return text[len(prefix):] if text.startswith(prefix) else text
