"""Serving the app: on 127.0.0.1 unless told otherwise, never through a public share link."""
from __future__ import annotations

import gradio as gr

from restore.app.config import AppConfig
from restore.app.jobs import prepare_output_root
from restore.app.examples import EXAMPLES_DIR
from restore.app.ui import build_app

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "launch"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
# System fonts only: the default theme fetches web fonts, which an offline machine would wait on.
_THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                           font_mono=["ui-monospace", "monospace"])


def launch(
    config: AppConfig | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int | None = DEFAULT_PORT,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
) -> gr.Blocks:
    """Build and serve the app; returns the running Blocks (``.local_url``; ``.close()`` stops it).

    ``prevent_thread_lock``: return at once with the server running in a background thread (tests);
    otherwise block until interrupted.
    """
    config = config or AppConfig.from_env()
    # A private, real folder (not a link, not another user's): the file route serves what is inside it.
    output_root = prepare_output_root(config.output_dir)
    demo = build_app(config)
    demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        max_file_size=config.max_file_size,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        ssr_mode=False,
        allowed_paths=[str(output_root), str(EXAMPLES_DIR)],  # results; the shipped example pictures
        theme=_THEME,
    )
    return demo
