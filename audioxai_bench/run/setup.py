"""Everything a run resolves before it does any work (lm-eval's ``simple_evaluate`` half).

:func:`prepare_run` loads the plugins, resolves the definition against them (every name,
parameter and variant), picks the device and the training preset and reads the environment for
provenance, so a bad definition fails before data is touched and the runner holds only loops.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..models.train import resolve_device
from ..plugins import PluginManager, load_plugins
from .definition import Benchmark
from .plan import Plan, plan_benchmark
from .records import environment
from .training import resolve_preset


@dataclasses.dataclass(frozen=True)
class RunSetup:
    """A benchmark resolved for one run: its plan, device, preset and environment."""

    bench: Benchmark
    plugins: PluginManager
    plan: Plan
    device: torch.device
    preset: str
    env: dict[str, Any]


def prepare_run(bench: Benchmark, *, device: str | None = None,
                plugins: PluginManager | None = None) -> RunSetup:
    """Resolve ``bench`` (``device`` overrides its own; default plugins: every installed one)."""
    pm = plugins or load_plugins(extra=bench.plugins)
    plan = plan_benchmark(bench, pm)
    dev = resolve_device(device or bench.device)
    return RunSetup(bench, pm, plan, dev, resolve_preset(bench.preset, dev), environment())
