"""Built-in plugins: only plugin modules, registered through the same hooks as outside packages.

:data:`BUILTIN_PLUGINS` is the one list of built-in plugin modules (like pytest's
``default_plugins``); the plugin manager registers each under the name ``builtin.<module>``
(block one by that name). The contracts these plugins implement live in :mod:`audioxai_bench.api`.
"""

from __future__ import annotations

import warnings
from typing import Any

#: The built-in plugin modules, in registration order (earlier wins a name clash).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "audioxai_bench.builtin.explainers_lrp",
    "audioxai_bench.builtin.explainers_captum",
    "audioxai_bench.builtin.explainers_baseline",
    "audioxai_bench.builtin.models",
    "audioxai_bench.builtin.sonifiers",
    "audioxai_bench.builtin.metrics_manipulation",
    "audioxai_bench.builtin.metrics_randomisation",
    "audioxai_bench.builtin.metrics_complexity",
    "audioxai_bench.builtin.metrics_bands",
    "audioxai_bench.builtin.metrics_runtime",
    "audioxai_bench.builtin.metrics_sonification",
    "audioxai_bench.builtin.metrics_localisation",
)

#: Names that lived here in 0.1, kept importable for one release.
_MOVED = {"BaseExplainer": "BaseExplainer", "explaining": "explaining",
          "spatial_dims": "spatial_dims", "BOTH": "REPRESENTATIONS"}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"audioxai_bench.builtin.{name} moved to audioxai_bench.{_MOVED[name]} "
                  "(audioxai_bench.api.explainer); the old path goes in 0.3",
                  DeprecationWarning, stacklevel=2)
    from audioxai_bench.api import explainer

    return getattr(explainer, _MOVED[name])
