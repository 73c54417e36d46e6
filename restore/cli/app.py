"""``restore app``: serve the web app (upscale, style transfer, benchmarks, model cards) in a browser."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "serve the web app (upscale with before/after, style transfer, benchmarks, model cards)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--max-pixels", type=int, metavar="N",
                        help="largest image accepted, width*height (default 16000000, or $RESTORE_APP_MAX_PIXELS)")
    parser.add_argument("--max-work", type=int, metavar="N",
                        help="most output pixels x network passes per upscale job (default 256000000, or "
                             "$RESTORE_APP_MAX_WORK)")
    parser.add_argument("--output-dir", metavar="DIR",
                        help="private folder for results (default <tmp>/restore-app, or $RESTORE_APP_OUTPUT_DIR)")
    parser.add_argument("--max-file-size", metavar="SIZE",
                        help="largest upload, e.g. 64mb (default 64mb, or $RESTORE_APP_MAX_FILE_SIZE)")
    parser.add_argument("--concurrency", type=int, metavar="N",
                        help="jobs run at once, the rest queue (default 1, or $RESTORE_APP_CONCURRENCY)")
    parser.add_argument("--data-root", metavar="DIR", help="where the benchmark sets live")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps...")
    parser.add_argument("--style-model", metavar="FILE",
                        help="SANet style-model file (default: models/sanet-vgg16.safetensors)")


def run(args: argparse.Namespace) -> int:
    from restore.app import AppConfig, launch

    config = AppConfig.from_env(max_pixels=args.max_pixels, max_work=args.max_work,
                                output_dir=Path(args.output_dir) if args.output_dir else None,
                                max_file_size=args.max_file_size,
                                concurrency=args.concurrency, data_root=args.data_root, device=args.device,
                                style_model=args.style_model)
    print(f"restore app: serving on http://{args.host}:{args.port} (Ctrl+C stops it)")
    launch(config, host=args.host, port=args.port, quiet=True)
    return 0
