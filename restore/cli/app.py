"""``restore app`` (and ``python app.py``, which runs this same parser): serve the web app in a browser.

Address: ``--host`` / ``--port`` when given, else Gradio's own ``GRADIO_SERVER_NAME`` /
``GRADIO_SERVER_PORT``, else 127.0.0.1:7860. The URL printed is the one the server really listens on.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from restore.errors import RestoreError

HELP = "serve the web app (upscale with before/after, style transfer, benchmarks, model cards)"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host",
                        help=f"address to bind (default $GRADIO_SERVER_NAME, else {DEFAULT_HOST}: this machine only; "
                             "0.0.0.0 opens it to the network)")
    parser.add_argument("--port", type=int, help=f"port (default $GRADIO_SERVER_PORT, else {DEFAULT_PORT})")
    parser.add_argument("--max-pixels", type=int, metavar="N",
                        help="largest image accepted, width*height (default 16000000, or $RESTORE_APP_MAX_PIXELS)")
    parser.add_argument("--max-work", type=int, metavar="N",
                        help="most output pixels x network passes per upscale job, pixels x iterations per "
                             "optimize style job (default 256000000, or $RESTORE_APP_MAX_WORK)")
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


def resolve_address(host: str | None, port: int | None,
                    environ: Mapping[str, str] | None = None) -> tuple[str, int]:
    """The flag, else Gradio's variable, else the default, for the host and for the port."""
    environ = os.environ if environ is None else environ
    host = host or environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    if port is None:
        text = environ.get("GRADIO_SERVER_PORT")
        try:
            port = int(text) if text else DEFAULT_PORT
        except ValueError:
            raise RestoreError(f"GRADIO_SERVER_PORT={text!r} is not a port number") from None
    if not 0 < port < 65536:
        raise RestoreError(f"port {port} is out of range (1-65535)")
    return host, port


def run(args: argparse.Namespace) -> int:
    from restore.app import AppConfig, launch

    config = AppConfig.from_env(max_pixels=args.max_pixels, max_work=args.max_work,
                                output_dir=Path(args.output_dir) if args.output_dir else None,
                                max_file_size=args.max_file_size,
                                concurrency=args.concurrency, data_root=args.data_root, device=args.device,
                                style_model=args.style_model)
    host, port = resolve_address(args.host, args.port)
    demo = launch(config, host=host, port=port, prevent_thread_lock=True, quiet=True)
    print(f"restore app: serving on {demo.local_url} (Ctrl+C stops it)", flush=True)
    try:
        demo.block_thread()
    finally:
        demo.close()
    return 0
