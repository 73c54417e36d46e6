"""Uploads: a handler only ever sees a file that was uploaded to this app, and never reads anything else.

A web client names its input files by server path (``{"path": ..., "meta": {"_type": "gradio.FileData"}}``),
normally the path the upload route gave it in Gradio's upload cache. A crafted request can name any
other path, or a URL for the server to fetch. After resolving symbolic links, a named file must be a
regular file inside the upload cache of this app's Blocks; anything else is refused with a message that
names the file by its base name only. The check runs twice, by different hooks: :class:`GuardedBlocks`
looks at a request's raw values before Gradio does anything with them, and :func:`guard_uploads` at the
path Gradio is about to copy into its cache and at the path it hands the handler.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gradio as gr

from restore.errors import DataError

__all__ = ["GuardedBlocks", "guard_uploads", "uploaded_file"]


def _base_name(text: str) -> str:
    return Path(text.rstrip("/").split("?")[0]).name or "the file"


def uploaded_file(path: str | os.PathLike, upload_root: str | os.PathLike,
                  shipped: tuple[str | os.PathLike, ...] = ()) -> Path:
    """``path`` resolved, when it is a regular file inside ``upload_root`` (or one of the ``shipped`` folders
    of pictures the app itself offers); DataError otherwise.

    Nothing is opened: the decision uses the resolved path and ``stat`` alone.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise DataError("refused: a file must be named by the path its upload returned")
    text = os.fspath(path)
    refused = f"{_base_name(text)}: refused: only files uploaded through this page are accepted"
    if "://" in text or not os.path.isabs(text):
        raise DataError(refused)
    real = os.path.realpath(text)
    roots = [os.path.realpath(root) for root in (upload_root, *shipped)]
    if not any(os.path.commonpath([real, root]) == root and real != root for root in roots):
        raise DataError(refused)
    if not os.path.isfile(real):
        raise DataError(f"{_base_name(text)}: refused: not a regular file")
    return Path(real)


def _refuse_outside(cache: str | os.PathLike, path: Any, shipped: tuple[str | os.PathLike, ...] = ()) -> None:
    """Raise a page message (gr.Error, shown until closed) unless ``path`` is None, an uploaded file or one of
    the app's own ``shipped`` pictures."""
    if path is None:
        return
    try:
        uploaded_file(path, cache, shipped)
    except DataError as exc:
        raise gr.Error(str(exc), duration=None, print_exception=False) from None


def guard_uploads(field: gr.File, shipped: tuple[str | os.PathLike, ...] = ()) -> gr.File:
    """Make ``field`` accept only files in its Blocks' upload cache, checked before they are read; return it.

    ``shipped``: folders of pictures the app itself puts into the field (its examples); only the cache
    copy of those ever comes back from a client, but the move into the cache goes through the same hook.

    Gradio copies an input file into the cache (``*_move_resource_to_block_cache``) before ``preprocess``;
    both steps are wrapped on this one instance, so neither a server path nor a URL is ever read or
    fetched. (A subclass of gr.File would do the same, but Gradio then writes a ``.pyi`` stub beside this
    module at import and looks for a front-end component of the subclass's name.)
    """
    move, async_move, preprocess = (field.move_resource_to_block_cache, field.async_move_resource_to_block_cache,
                                    field.preprocess)

    def guarded_move(url_or_file_path: str | Path | None) -> str | None:
        _refuse_outside(field.GRADIO_CACHE, url_or_file_path, shipped)
        return move(url_or_file_path)

    async def guarded_async_move(url_or_file_path: str | Path | None) -> str | None:
        _refuse_outside(field.GRADIO_CACHE, url_or_file_path, shipped)
        return await async_move(url_or_file_path)

    def guarded_preprocess(payload: Any) -> Any:
        value = preprocess(payload)
        for path in value if isinstance(value, list) else [value]:
            _refuse_outside(field.GRADIO_CACHE, path)
        return value

    field.move_resource_to_block_cache = guarded_move  # type: ignore[method-assign]
    field.async_move_resource_to_block_cache = guarded_async_move  # type: ignore[method-assign]
    field.preprocess = guarded_preprocess  # type: ignore[method-assign]
    field.restore_upload_guard = True  # type: ignore[attr-defined]
    return field


def _named_paths(value: Any) -> list[Any]:
    """The ``path`` of every file object in a raw request value (one file, a list of them, or None)."""
    if isinstance(value, dict):
        return [value.get("path")] if "path" in value else [p for item in value.values() for p in _named_paths(item)]
    if isinstance(value, (list, tuple)):
        return [path for item in value for path in _named_paths(item)]
    return []


class GuardedBlocks(gr.Blocks):
    """``gr.Blocks`` that refuses a request naming a file outside the upload cache for a field made with
    :func:`guard_uploads`, before Gradio's own preprocessing reads, copies or fetches anything."""

    async def preprocess_data(self, block_fn: Any, inputs: list[Any], *args: Any, **kwargs: Any) -> Any:
        for block, value in zip(block_fn.inputs, inputs):
            if getattr(block, "restore_upload_guard", False):
                for path in _named_paths(value):
                    _refuse_outside(block.GRADIO_CACHE, path)
        return await super().preprocess_data(block_fn, inputs, *args, **kwargs)
