"""What the Benchmark tab shows besides the chart: per-image rows at fixed decimals, and the command
that reproduces the run (with flags ``restore bench`` has: the report cites it)."""
from __future__ import annotations

import shlex

__all__ = ["bench_command", "fixed_decimals"]


def fixed_decimals(name: str, psnr: float, ssim: float, seconds: float) -> list[str]:
    """One table row as text, so 29.00 dB shows as ``29.00`` (a number column would print ``29``)."""
    return [name, f"{psnr:.2f}", f"{ssim:.4f}", f"{seconds:.3f}"]


def bench_command(model: str, scale: int, dataset: str, data_root: str | None = None) -> str:
    """The ``restore bench`` command line that measures what the tab just measured."""
    words = ["restore", "bench", "--model", model, "--dataset", dataset, "--scale", str(scale)]
    if data_root:
        words += ["--data-root", str(data_root)]
    return shlex.join(words)
