"""Test hook: kill this process at a chosen fault point, as ``kill -9`` or a power cut would.

A fault point marks a moment where a run may die and must be resumable: ``data`` loaded,
``train`` about to start, a cache file written but not yet renamed into place (``save``), a
``relevance`` entry stored, a ``record`` appended. ``AUDIOXAI_BENCH_FAULT_AT=N`` sends SIGKILL to
this process at the N-th point it reaches (no ``finally`` runs), ``AUDIOXAI_BENCH_FAULT_AT=
record:3`` at the third ``record`` point; ``AUDIOXAI_BENCH_FAULT_LOG=<file>`` appends
``<count> <name>`` to that file at every point. The fault-injection tests
(``tests/run/test_fault_injection.py``) use them; unset, a point costs two environment lookups.
"""

from __future__ import annotations

import collections
import os
import signal

FAULT_AT_ENV = "AUDIOXAI_BENCH_FAULT_AT"
FAULT_LOG_ENV = "AUDIOXAI_BENCH_FAULT_LOG"
_reached: collections.Counter[str] = collections.Counter()


def fault_point(name: str) -> None:
    """Count this point; die here when it is the one ``AUDIOXAI_BENCH_FAULT_AT`` names."""
    at, log = os.environ.get(FAULT_AT_ENV), os.environ.get(FAULT_LOG_ENV)
    if not at and not log:
        return
    _reached.update(["", name])  # "" counts every point
    if log:
        with open(log, "a") as fh:
            fh.write(f"{_reached['']} {name}\n")
    which, _, count = (at or "").rpartition(":")
    if at and _reached[which] == int(count):
        os.kill(os.getpid(), signal.SIGKILL)
