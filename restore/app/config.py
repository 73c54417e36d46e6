"""What an app instance allows: the pixel limit, the upload size, the queue and where outputs go.

Every limit has an environment variable so a deployment can tune the app without code:
``RESTORE_APP_MAX_PIXELS``, ``RESTORE_APP_MAX_WORK``, ``RESTORE_APP_MAX_FILE_SIZE``, ``RESTORE_APP_CONCURRENCY``,
and ``RESTORE_APP_OUTPUT_DIR`` for where results go (docs/security.md).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from restore.errors import RestoreError

# 16 MP: a phone photo. Network memory and time grow with the input's pixels times scale², so a
# public instance wants a limit well below what the file decoder accepts.
DEFAULT_MAX_PIXELS = 16_000_000
# The work one upscale job may ask for: output pixels x network passes (8 with the self-ensemble). The
# default admits the largest input at x4 without the ensemble; the ensemble's 8 passes then fit inputs of
# up to 2 MP at x4, so one request cannot hold a single-job queue for the better part of an hour. An optimize
# style job counts each scale's pixels x its L-BFGS iterations (each a VGG-16 forward and backward pass):
# a 2048x2048 result at the default iterations is about 170 million.
DEFAULT_MAX_WORK = 256_000_000
DEFAULT_MAX_FILE_SIZE = "64mb"
DEFAULT_CONCURRENCY = 1
# Previews go to the browser as PNG; the download carries the full resolution.
PREVIEW_MAX_SIDE = 1600


def _output_root() -> Path:
    # Gradio serves a returned file only from the working directory or the system temp folder.
    return Path(tempfile.gettempdir()) / "restore-app"


@dataclass(frozen=True)
class AppConfig:
    """Limits and folders of one app instance.

    Args:
        max_pixels: the largest width * height accepted for an uploaded image (checked from its header).
        max_work: the most output pixels x network passes one upscale job may ask for (for an optimize style
            job: every scale's pixels x its iterations).
        max_file_size: the largest upload Gradio accepts, as Gradio reads it ("64mb", or bytes).
        concurrency: how many jobs run at once; the rest wait in the queue.
        data_root: where the benchmark sets live (None: :func:`restore.paths.data_root`).
        output_dir: where results are written before the browser downloads them.
        device: the device the networks run on ("auto", "cpu", "cuda"...).
        style_model: a SANet style-model file (None: the zoo's ``models/sanet-vgg16.safetensors``).
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_work: int = DEFAULT_MAX_WORK
    max_file_size: str | int = DEFAULT_MAX_FILE_SIZE
    concurrency: int = DEFAULT_CONCURRENCY
    data_root: str | None = None
    output_dir: Path = field(default_factory=_output_root)
    device: str = "auto"
    style_model: str | None = None

    def __post_init__(self) -> None:
        if self.max_pixels < 1:
            raise RestoreError(f"the pixel limit must be positive, got {self.max_pixels}")
        if self.max_work < 1:
            raise RestoreError(f"the work limit must be positive, got {self.max_work}")
        if self.concurrency < 1:
            raise RestoreError(f"the concurrency limit must be at least 1, got {self.concurrency}")

    @classmethod
    def from_env(cls, **overrides: object) -> AppConfig:
        """Defaults, then the ``RESTORE_APP_*`` variables, then ``overrides`` whose value is not None."""
        values: dict[str, object] = {}
        env_fields = {
            "max_pixels": ("RESTORE_APP_MAX_PIXELS", int),
            "max_work": ("RESTORE_APP_MAX_WORK", int),
            "output_dir": ("RESTORE_APP_OUTPUT_DIR", Path),
            "max_file_size": ("RESTORE_APP_MAX_FILE_SIZE", str),
            "concurrency": ("RESTORE_APP_CONCURRENCY", int),
        }
        for name, (variable, parse) in env_fields.items():
            text = os.environ.get(variable)
            if text:
                try:
                    values[name] = parse(text)
                except ValueError:
                    raise RestoreError(f"{variable}={text!r} is not a valid {parse.__name__}") from None
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)  # type: ignore[arg-type]
