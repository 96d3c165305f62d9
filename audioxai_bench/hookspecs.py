"""Moved to :mod:`audioxai_bench.api.hookspecs`; this path works for one release (0.2)."""

from audioxai_bench.api.hookspecs import *  # noqa: F403
from audioxai_bench.api.hookspecs import PROJECT, hookimpl, hookspec  # noqa: F401
