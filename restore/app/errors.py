"""Errors as messages in the page: a handler's failure never reaches the browser as a traceback.

A :class:`~restore.errors.RestoreError` already speaks to the user, so its text is shown as it is. Anything
else is a bug or an environment problem: the page gets one line, the server log the full traceback.
Either way every absolute path in the text is cut to its base name (the page never learns where the
server keeps files), and the message stays on the page until the user closes it.
"""
from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from restore.errors import RestoreError

Handler = TypeVar("Handler", bound=Callable[..., Any])
LOG = logging.getLogger("restore.app")
# An absolute POSIX path: "/" then folders; the last folder's name is dropped along with the rest, so a file
# name with spaces keeps its words ("/tmp/x/my photo.png" -> "my photo.png").
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"`]+/)+")


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def base_names_only(text: str) -> str:
    """``text`` with every absolute path's folders removed: "/srv/cache/ab12/photo.png: ..." -> "photo.png: ..."."""
    return _ABSOLUTE_PATH.sub("", text)


def page_message(exc: BaseException) -> str:
    """What the page shows for ``exc``, naming files by base name only."""
    if isinstance(exc, RestoreError):
        return base_names_only(str(exc))
    return base_names_only(f"something went wrong: {one_line(exc)}")


def shown_in_page(handler: Handler) -> Handler:
    """Wrap a UI callback so every failure becomes a ``gr.Error`` with :func:`page_message`; it has no
    duration, so it stays readable until the user closes it (a timed toast vanished, leaving a bare badge)."""
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
            raise gr.Error(page_message(exc), duration=None, print_exception=False) from None

    return guarded  # type: ignore[return-value]
