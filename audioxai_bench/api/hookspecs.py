"""The four hooks a plugin implements: the public contract (README, "Explanation
methods are plugins").

A plugin is a module (or any object) with functions marked ``@audioxai_bench.hookimpl`` named
after the hooks below. Outside plugins are found through the entry-point group
``audioxai_bench``::

    [project.entry-points.audioxai_bench]
    my-plugin = "my_package.plugin"

or, before packaging, ``audioxai-bench run --plugin my_plugin.py``. Every hook is a collection
hook: it takes no argument and returns a list of plain objects (duck-typed: the protocols in
:mod:`audioxai_bench.api` say what each must have; the base classes there are optional). The
plugin manager (:mod:`audioxai_bench.plugins`) calls each plugin's hook on its own, validates
every object and records which plugin registered it. Names are lower-case with dashes or
underscores and unique across all plugins. The built-ins (:mod:`audioxai_bench.builtin`) use
these same hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # the protocols import torch; the markers must stay cheap to import
    from audioxai_bench.api.explainer import Explainer
    from audioxai_bench.api.metric import Metric
    from audioxai_bench.api.model import ModelSpec
    from audioxai_bench.api.sonifier import Sonifier

#: pluggy project name and entry-point group.
PROJECT = "audioxai_bench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def audioxai_bench_explainers() -> list[Explainer]:
    """Explainers: relevance for a batch of model inputs (see :class:`Explainer`)."""


@hookspec
def audioxai_bench_sonifiers() -> list[Sonifier]:
    """Sonifiers: relevance turned into sound (see :class:`Sonifier`)."""


@hookspec
def audioxai_bench_metrics() -> list[Metric]:
    """Metrics: per-sample scores of explanations (see :class:`Metric`)."""


@hookspec
def audioxai_bench_models() -> list[ModelSpec]:
    """Model specs: architectures with their training presets (see :class:`ModelSpec`)."""
