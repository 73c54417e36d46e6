"""Uploads: a handler only ever sees a file that was uploaded to this app, and never reads anything else.

A web client names its input files by server path (``{"path": ..., "meta": {"_type": "gradio.FileData"}}``),
normally the path the upload route gave it in Gradio's upload cache. A crafted request can name any
other path, or a URL for the server to fetch. After resolving symbolic links, a named file must be a
regular file inside the upload cache of this app's Blocks; anything else is refused with a message that
names the file by its base name only. The check runs twice, by different hooks: :class:`GuardedBlocks`
looks at a request's raw values before Gradio does anything with them, and :class:`UploadField` at the
path Gradio is about to copy into its cache and at the path it hands the handler.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gradio as gr

from restore.errors import DataError

__all__ = ["GuardedBlocks", "UploadField", "uploaded_file"]


def _base_name(text: str) -> str:
    return Path(text.rstrip("/").split("?")[0]).name or "the file"


def uploaded_file(path: str | os.PathLike, upload_root: str | os.PathLike) -> Path:
    """``path`` resolved, when it is a regular file inside ``upload_root``; DataError otherwise.

    Nothing is opened: the decision uses the resolved path and ``stat`` alone.
    """
    text = os.fspath(path)
    refused = f"{_base_name(text)}: refused: only files uploaded through this page are accepted"
    if "://" in text or not os.path.isabs(text):
        raise DataError(refused)
    real = os.path.realpath(text)
    root = os.path.realpath(upload_root)
    if os.path.commonpath([real, root]) != root or real == root:
        raise DataError(refused)
    if not os.path.isfile(real):
        raise DataError(f"{_base_name(text)}: refused: not a regular file")
    return Path(real)


class UploadField(gr.File):
    """``gr.File`` whose values must be files in this Blocks' upload cache, checked before they are read.

    Gradio copies an input file into the cache (``*_move_resource_to_block_cache``) before
    ``preprocess``; both steps are guarded, so neither a server path nor a URL is ever read or fetched.
    """

    # Gradio's marker for a subclass that the page renders with its parent's front-end (gr.File's), as it
    # does for its own templates; without it the page looks for an "uploadfield" component and shows none.
    is_template = True

    def _guard(self, path: Any) -> None:
        if path is None:
            return
        try:
            uploaded_file(path, self.GRADIO_CACHE)
        except DataError as exc:
            raise gr.Error(str(exc), duration=None, print_exception=False) from None

    def move_resource_to_block_cache(self, url_or_file_path: str | Path | None) -> str | None:
        self._guard(url_or_file_path)
        return super().move_resource_to_block_cache(url_or_file_path)

    async def async_move_resource_to_block_cache(self, url_or_file_path: str | Path | None) -> str | None:
        self._guard(url_or_file_path)
        return await super().async_move_resource_to_block_cache(url_or_file_path)

    def preprocess(self, payload: Any) -> Any:
        value = super().preprocess(payload)
        for path in value if isinstance(value, list) else [value]:
            self._guard(path)
        return value


def _named_paths(value: Any) -> list[Any]:
    """The ``path`` of every file object in a raw request value (one file, a list of them, or None)."""
    if isinstance(value, dict):
        return [value.get("path")] if "path" in value else [p for item in value.values() for p in _named_paths(item)]
    if isinstance(value, (list, tuple)):
        return [path for item in value for path in _named_paths(item)]
    return []


class GuardedBlocks(gr.Blocks):
    """``gr.Blocks`` that refuses a request naming a file outside the upload cache for an :class:`UploadField`,
    before Gradio's own preprocessing reads, copies or fetches anything."""

    async def preprocess_data(self, block_fn: Any, inputs: list[Any], *args: Any, **kwargs: Any) -> Any:
        for block, value in zip(block_fn.inputs, inputs):
            if isinstance(block, UploadField):
                for path in _named_paths(value):
                    block._guard(path)
        return await super().preprocess_data(block_fn, inputs, *args, **kwargs)
