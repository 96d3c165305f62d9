"""The engines the built-in metrics share.

- :mod:`~audioxai_bench.evaluation.perturbation`: the batched input-manipulation engine;
- :mod:`~audioxai_bench.evaluation.sonification`: what the model still hears in a sonified sound;
- :mod:`~audioxai_bench.evaluation.randomness`: seeded randomness per (seed, sample);
- :mod:`~audioxai_bench.evaluation.summary`: merging batches into record fields.

Until 0.1 this was one module holding the metric contract; those names moved to
:mod:`audioxai_bench.api.metric` (and :mod:`~audioxai_bench.evaluation.summary`) and stay
importable from here for one release.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_MOVED = {name: "audioxai_bench.api.metric" for name in (
    "EvalBatch", "MetricOutput", "Metric", "BaseMetric", "BatchMemo", "DEFAULT_CHUNK",
    "OPTIONAL_FIELDS")} | {name: "audioxai_bench.evaluation.summary" for name in (
    "merge_outputs", "summarize", "timed")}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"audioxai_bench.evaluation.{name} moved to {_MOVED[name]}; the old path goes "
                  "in 0.3", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(_MOVED[name]), name)
