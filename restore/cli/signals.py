"""SIGTERM (``kill``, a scheduler's stop, a container shutting down) handled like Ctrl-C.

Python's default for SIGTERM is to die on the spot: no message, and a file being written is left as a
``.restore-tmp-*`` leftover. Raised as a :class:`Terminated` interrupt instead, every clean-up that
already handles Ctrl-C runs (atomic writers delete their temporary file, the batch waits for the
encodes in flight), and the command line says what happened.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["SIGTERM_EXIT_STATUS", "Terminated", "sigterm_as_interrupt"]

# The shell's convention for a process ended by signal 15: 128 + 15.
SIGTERM_EXIT_STATUS = 128 + int(signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM; a KeyboardInterrupt so that Ctrl-C's clean-ups run for it too."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
