"""Progress bars and status lines, both on stderr so stdout holds only results.

Bars come from tqdm (count, rate, ETA); they show on a terminal. In logs and pipes a bar would
fill the file, so there a step says how far it is in one line a minute (a warm cache that no
longer matched left a run silent for 11 minutes), unless ``AUDIOXAI_BENCH_PROGRESS=1`` (or
``--progress``) asks for bars. Status lines are flushed as they happen, so a piped or killed
run has printed everything up to that moment.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any, Protocol

from tqdm import tqdm


class ProgressFn(Protocol):
    """The one progress callback of data loading, training and the runner:
    ``progress(done, total)``, and training adds ``info`` (loss, learning rate, validation
    accuracy)."""

    def __call__(self, done: int, total: int, info: Mapping[str, Any] | None = None, /
                 ) -> None: ...

#: Set to 1 to show bars when stderr is not a terminal (CI logs, ``| tee``).
FORCE_ENV = "AUDIOXAI_BENCH_PROGRESS"
#: Seconds between a step's progress lines where no bar is drawn (a log or pipe).
HEARTBEAT_S = 60.0


def status(message: str) -> None:
    """One status line on stderr, flushed now."""
    print(message, file=sys.stderr, flush=True)


class Progress:
    """A :data:`ProgressFn` drawing ``label`` as a tqdm bar; silent when ``quiet``."""

    def __init__(self, label: str, quiet: bool = False, unit: str = ""):
        self.label, self.unit = label, unit.strip() or "it"
        force = os.environ.get(FORCE_ENV, "") not in ("", "0")
        self.disabled = quiet or not (force or sys.stderr.isatty())
        self.heartbeat = self.disabled and not quiet  # a log or pipe: a line now and then
        self.last = time.monotonic()
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int, info: Mapping[str, Any] | None = None) -> None:
        if self.disabled:
            now = time.monotonic()
            finished = bool(total) and done >= total  # the step's own status line says it
            if self.heartbeat and not finished and now - self.last >= HEARTBEAT_S:
                self.last = now
                status(f"{self.label}: {done}{f' of {total}' if total else ''} {self.unit}")
            return
        if self.bar is None:
            self.bar = tqdm(total=total or None, desc=self.label, unit=self.unit,
                            unit_scale=self.unit == "bytes", file=sys.stderr, dynamic_ncols=True,
                            mininterval=0.2 if sys.stderr.isatty() else 5.0)
        self.bar.total = total or None
        if info:
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in info.items()
                                  if isinstance(v, float)}, refresh=False)
        self.bar.update(done - self.bar.n)
        if total and done >= total:
            self.bar.close()
