"""The restore web app (Gradio): upscale with a before/after slider, style transfer, benchmarks, model cards.

Gradio reads its settings from the environment when it is first imported, so the two that keep the
app private and offline are set here, before anything below can import it: no usage analytics are sent,
and the Hugging Face hub is never contacted. A value the user exported already wins.

``build_app(config)`` returns the Blocks; ``launch(config, ...)`` serves it (``restore app`` and the
repository's ``app.py`` call it). The handlers (:mod:`restore.app.handlers`) import no Gradio at all.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from restore._lazy import lazy_exports

_EXPORTS = {
    "AppConfig": "restore.app.config",
    "build_app": "restore.app.ui",
    "launch": "restore.app.server",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
