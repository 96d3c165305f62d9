"""A small progress display on stderr: in place on a terminal, a line every few seconds in logs."""

from __future__ import annotations

import sys
import time


class Progress:
    """Callable ``(done, total)`` that shows ``label: done/total (rate/s)``; silent when quiet."""

    def __init__(self, label: str, quiet: bool = False, unit: str = "",
                 log_every_s: float = 5.0):
        self.label, self.quiet, self.unit = label, quiet, unit
        self.start = time.perf_counter()
        self.last = 0.0
        self.log_every_s = log_every_s
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        finished = total and done >= total
        if not finished and now - self.last < (0.2 if self.tty else self.log_every_s):
            return
        self.last = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        of_total = f"/{total}" if total else ""
        text = f"{self.label}: {done}{of_total}{self.unit} ({rate:.1f}/s, {elapsed:.0f} s)"
        end = "\n" if finished or not self.tty else ""
        print(("\r" if self.tty else "") + text, end=end, file=sys.stderr, flush=True)
