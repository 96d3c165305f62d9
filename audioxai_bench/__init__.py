"""audioxai-bench: score explanation methods for audio classifiers on AudioMNIST.

The public face, for plugin authors and users (like ``import pytest`` or ``import llm``)::

    import audioxai_bench

    class MyMethod(audioxai_bench.BaseExplainer):
        def attribute(self, model, x, target): ...

    @audioxai_bench.hookimpl
    def audioxai_bench_explainers():
        return [MyMethod(name="my-method")]

Everything but the hook markers is imported on first use, so ``audioxai-bench --version`` and
plugin discovery stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from audioxai_bench.api.hookspecs import hookimpl, hookspec

__version__ = "0.1.0"

_LAZY = {
    "Explainer": "api.explainer", "BaseExplainer": "api.explainer",
    "REPRESENTATIONS": "api.explainer", "explaining": "api.explainer",
    "silence_of": "api.explainer", "amplitude_of": "api.explainer",
    "Metric": "api.metric", "BaseMetric": "api.metric", "EvalBatch": "api.metric",
    "MetricOutput": "api.metric",
    "Sonifier": "api.sonifier", "BaseSonifier": "api.sonifier",
    "ModelSpec": "api.model",
    "load_plugins": "plugins", "PluginManager": "plugins",
    "run_explainer": "guard", "ExplainerError": "guard",
    "AudioXaiError": "errors",
    "load_model": "run.training",
    "score_attributions": "scoring",
    "load_results": "run.records",
}

__all__ = [
    "__version__", "hookimpl", "hookspec",
    "Explainer", "BaseExplainer", "REPRESENTATIONS", "explaining", "silence_of", "amplitude_of",
    "Metric", "BaseMetric", "EvalBatch", "MetricOutput", "Sonifier", "BaseSonifier", "ModelSpec",
    "load_plugins", "PluginManager", "run_explainer", "ExplainerError", "AudioXaiError",
    "load_model", "score_attributions", "load_results",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # what type checkers and editors see
    from audioxai_bench.api.explainer import (
        REPRESENTATIONS,
        BaseExplainer,
        Explainer,
        amplitude_of,
        explaining,
        silence_of,
    )
    from audioxai_bench.api.metric import BaseMetric, EvalBatch, Metric, MetricOutput
    from audioxai_bench.api.model import ModelSpec
    from audioxai_bench.api.sonifier import BaseSonifier, Sonifier
    from audioxai_bench.errors import AudioXaiError
    from audioxai_bench.guard import ExplainerError, run_explainer
    from audioxai_bench.plugins import PluginManager, load_plugins
    from audioxai_bench.run.records import load_results
    from audioxai_bench.run.training import load_model
    from audioxai_bench.scoring import score_attributions
