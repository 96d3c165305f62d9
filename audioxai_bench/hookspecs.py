"""Moved to :mod:`audioxai_bench.api.hookspecs`; importing it from here still works in the 0.1
releases but warns (``DeprecationWarning``), and this module goes in 0.2."""

import warnings

from audioxai_bench.api.hookspecs import *  # noqa: F403
from audioxai_bench.api.hookspecs import PROJECT, hookimpl, hookspec  # noqa: F401

warnings.warn("audioxai_bench.hookspecs moved to audioxai_bench.api.hookspecs (or use "
              "audioxai_bench.hookimpl); the old path goes in 0.2", DeprecationWarning,
              stacklevel=2)
