"""Ctrl-C and SIGTERM held back while the run's thread is inside a process pool's bookkeeping.

Python raises a signal handler's exception (Ctrl-C's :class:`KeyboardInterrupt`, the CLI's
SIGTERM) in the main thread at its next bytecode boundary, wherever that is: also just after a
lock's ``acquire`` returned and before the ``with`` block that releases it is entered, or in a
``with`` block's ``__exit__`` before it releases (CPython issue 74174, bpo-29988). The locks of
:mod:`concurrent.futures` are such locks (``threading.Condition`` enters and exits in Python):
a run interrupted while it polled its pool kept a unit's ``Future`` lock; the pool's manager
thread then waited for it for ever when the stopped pool failed that unit, and the process
never exited after its "interrupted" line (CPython joins that thread at exit, without a time
limit). :class:`HeldInterrupts` notes a signal that comes while the run's thread is inside the
pool's calls and hands it to its handler when the thread is out, where no pool lock is held.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

#: The signals that end a run as an interruption (the CLI turns SIGTERM into one).
HELD = (signal.SIGINT, signal.SIGTERM)


class HeldInterrupts:
    """While entered on the main thread, SIGINT and SIGTERM are noted instead of handled; on
    leaving, the first one noted goes to its handler there (which raises). Only handlers written
    in Python are held (Ctrl-C's default, the CLI's SIGTERM): a default action (SIGTERM ends the
    process) or an ignored signal is left alone. Made on the main thread, it wraps the handlers
    until :meth:`restore`; made elsewhere, it holds nothing (no handler runs on another thread).
    """

    def __init__(self) -> None:
        self.handlers: dict[int, Any] = {}
        self.depth = 0  # nested entries on the main thread
        self.noted: tuple[int, Any] | None = None  # (signal, frame) of the first held one
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in HELD:
            handler = signal.getsignal(signum)
            if callable(handler):
                self.handlers[signum] = handler
                signal.signal(signum, self._note)

    def _note(self, signum: int, frame: Any) -> None:
        if self.depth:
            self.noted = self.noted or (signum, frame)
        else:
            self.handlers[signum](signum, frame)

    def __enter__(self) -> HeldInterrupts:
        if threading.current_thread() is threading.main_thread():
            self.depth += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.depth -= 1
        if self.depth == 0 and self.noted is not None:
            (signum, frame), self.noted = self.noted, None
            self.handlers[signum](signum, frame)

    def drop(self) -> None:
        """Forget a signal held so far (the run is being stopped already)."""
        self.noted = None

    def restore(self) -> None:
        """Put the handlers back (where nobody has replaced them since)."""
        self.noted = None
        for signum, handler in self.handlers.items():
            if signal.getsignal(signum) == self._note:
                signal.signal(signum, handler)
