"""Matplotlib without a display, for the PNG charts and curves the project writes (reports, cards, docs)."""
from __future__ import annotations

from pathlib import Path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (imported on first use: ``import restore`` stays light)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: Path, **savefig_options) -> Path:
    """Lay out, write (creating the folder) and close ``figure``; returns ``path``."""
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, **savefig_options)
    pyplot().close(figure)
    return path
