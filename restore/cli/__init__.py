"""The ``restore`` command line: a thin shell over the Python API.

Each sub-command lives in its own module under ``restore.cli`` and exposes ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their command
runs, so ``restore --help`` is instant. A module with ``DISTRIBUTED = True`` runs as one rank of a
``torchrun`` launch when started by one (:func:`restore.distributed.session`; docs/scaling.md).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import os
import shlex
import sys

from restore.cli.signals import SIGTERM_EXIT_STATUS, Terminated, sigterm_as_interrupt
from restore.errors import RestoreError

# command name -> (module, one-line help). The help is duplicated here so --help needs no imports.
COMMANDS: dict[str, tuple[str, str]] = {
    "zoo": ("restore.cli.zoo", "list the model zoo, or export a training checkpoint into it"),
    "degrade": ("restore.cli.degrade", "make MATLAB-bicubic LR images from an HR folder"),
    "bench": ("restore.cli.bench", "score models (or a folder of outputs) under the papers' protocol"),
    "datasets": ("restore.cli.datasets", "list or verify the benchmark datasets under a data root"),
    "weights": ("restore.cli.weights", "fetch and convert pinned backbone weights (LPIPS / VGG16)"),
    "train": ("restore.cli.train", "train a network from an options file, with exact resume"),
    "upscale": ("restore.cli.upscale", "upscale image files, folders and globs (or --demo) with a zoo model"),
    "train-style": ("restore.cli.train_style", "train a SANet style-transfer model from an options file"),
    "stylize": ("restore.cli.stylize", "transfer the style of paintings onto images (SANet, or pixel optimisation)"),
    "inspect": ("restore.cli.inspect", "recognise a checkpoint's arch, scale, configuration and layout from its tensors"),
    "app": ("restore.cli.app", "serve the web app (upscale, style transfer, benchmarks, model cards)"),
    "export": ("restore.cli.export", "export an SR model to ONNX (dynamic size, RGB in [0, 1])"),
}


def build_parser() -> argparse.ArgumentParser:
    from restore import __version__

    parser = argparse.ArgumentParser(prog="restore", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"restore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints help / version / an unknown-command error
        parser.print_help()
        return 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    sub = argparse.ArgumentParser(prog=f"restore {name}", description=module.HELP)
    module.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    # What was typed, for reports that cite their command (``restore bench --report``).
    args.command_line = "restore " + shlex.join(argv)
    try:
        with sigterm_as_interrupt(), _as_rank(module, argv):
            status = int(module.run(args) or 0)
            sys.stdout.flush()  # inside the try: a closed pipe shows here, not as a traceback at exit
        return status
    except RestoreError as exc:
        print(f"restore {name}: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"restore {name}: terminated (SIGTERM)", file=sys.stderr)
        return SIGTERM_EXIT_STATUS
    except KeyboardInterrupt:
        print(f"restore {name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`restore zoo --json | head`): stop quietly, as other Unix tools do.
        _silence_stdout()
        return 141


def _as_rank(module, argv: list[str]) -> contextlib.AbstractContextManager:
    """The torchrun session of a command that shares its work between ranks (nothing when not launched)."""
    if not getattr(module, "DISTRIBUTED", False):
        return contextlib.nullcontext()
    from restore.distributed import session

    hours = getattr(module, "DISTRIBUTED_TIMEOUT_HOURS", None)
    return session(argv, timeout=None if hours is None else datetime.timedelta(hours=hours))


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise BrokenPipeError again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a real file (captured by a test): nothing will flush to the pipe
    finally:
        os.close(devnull)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
