"""Errors as messages in the page: a handler's failure never reaches the browser as a traceback.

A :class:`~restore.errors.RestoreError` already speaks to the user, so its text is shown as it is. Anything
else is a bug or an environment problem: the page gets one line, the server log the full traceback.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from restore.errors import RestoreError

Handler = TypeVar("Handler", bound=Callable[..., Any])
LOG = logging.getLogger("restore.app")


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def page_message(exc: BaseException) -> str:
    """What the page shows for ``exc``."""
    if isinstance(exc, RestoreError):
        return str(exc)
    return f"something went wrong: {one_line(exc)}"


def shown_in_page(handler: Handler) -> Handler:
    """Wrap a UI callback so every failure becomes a ``gr.Error`` toast with :func:`page_message`."""
    import gradio as gr

    @functools.wraps(handler)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:
            if not isinstance(exc, RestoreError):
                LOG.exception("app handler %s failed", handler.__name__)
            raise gr.Error(page_message(exc), print_exception=False) from None

    return guarded  # type: ignore[return-value]
