"""Ctrl-C while a scheduler runs: a flag the run checks at safe points, instead of an exception at any instruction."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any

__all__ = ["Interruptible"]

_SIGNAL_CHECK = 0.25  # seconds between chances for a Ctrl-C handler to run while the main thread waits


def _nothing() -> None:
    return None


class Interruptible:
    """The Ctrl-C state of a scheduling run, and how it waits for reports."""

    def __init__(self) -> None:
        self.abandoned = False  # a second Ctrl-C left running tasks behind
        self.interrupts = 0  # Ctrl-Cs caught by catch_sigint, not yet acted on
        self.in_loop = True  # False while the caller's code runs between two yields
        self.inline_running = False  # True while an inline queue runs a task's function in this thread
        self.catching = False  # catch_sigint's handler is installed: block on reports only briefly

    def catch_sigint(self, wake: Callable[[Any], Any], token: Any) -> Callable[[], None]:
        """While the run's loop runs in the main thread, make Ctrl-C a flag the loop checks at safe points.

        A KeyboardInterrupt raised at an arbitrary instruction could land between claiming a task and recording
        it; the flag is acted on only where the run's state is whole, and ``wake(token)`` wakes the loop to see it.
        Ctrl-C still raises at once while a task runs inline (to stop its function) and while the caller's code
        runs between two yields.

        Returns:
            the function that puts the previous handler back.
        """
        if (
            threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        ):
            return _nothing

        def on_sigint(signum: int, frame: Any) -> None:
            if not self.in_loop or self.inline_running:
                raise KeyboardInterrupt
            self.interrupts += 1
            wake(token)

        signal.signal(signal.SIGINT, on_sigint)
        self.catching = True

        def restore() -> None:
            self.catching = False
            if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is on_sigint:
                signal.signal(signal.SIGINT, signal.default_int_handler)

        return restore

    def next_report(self, reports: SimpleQueue[Any]) -> Any:
        """The next report, waiting for it. While our SIGINT handler is installed, the wait wakes every quarter of
        a second: the kernel may deliver Ctrl-C to a worker thread, and Python runs the handler only when the main
        thread next runs bytecode, which a wait without a timeout would put off until a task finished."""
        if not self.catching:
            return reports.get()
        while True:
            try:
                return reports.get(timeout=_SIGNAL_CHECK)
            except Empty:
                pass  # back in the interpreter: a pending handler runs here, and wakes the loop
