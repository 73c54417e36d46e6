"""Clean stops for background training: SIGTERM or Ctrl-C finish the current step, then checkpoint.

``kill <pid>`` (SIGTERM) is how a session ends a nohup'ed run; without a handler the process dies
mid-step and loses everything since the last periodic checkpoint.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType


class StopRequest:
    """While active (a context manager), SIGTERM and SIGINT set ``requested`` instead of killing the process.

    A second signal of either kind restores the default behaviour, so a stuck run can still be killed. Outside
    the main thread (where Python cannot install handlers) it does nothing and ``requested`` stays False.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        if threading.current_thread() is threading.main_thread():
            for number, handler in self._previous.items():
                signal.signal(number, handler)
        self._previous.clear()
