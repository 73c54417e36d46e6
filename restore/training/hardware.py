"""What a run trained on, recorded in its checkpoints and cards."""
from __future__ import annotations

import platform
from pathlib import Path

import torch


def cpu_description() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_hardware(device: torch.device | None = None) -> str:
    """e.g. ``AMD EPYC, 2 threads, torch 2.14.1`` or ``NVIDIA H100 80GB HBM3, torch 2.14.1``."""
    if device is not None and device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    threads = torch.get_num_threads()
    return f"{cpu_description()}, {threads} thread{'' if threads == 1 else 's'}, torch {torch.__version__}"
