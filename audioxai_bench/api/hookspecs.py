"""The hooks a plugin implements: the public contract of DESIGN.md, "Everything is a plugin".

A plugin is a module (or any object) with functions marked ``@audioxai_bench.hookimpl`` whose
names are the hook names below. It is found through the entry-point group ``audioxai_bench``::

    [project.entry-points.audioxai_bench]
    my-plugin = "my_package.plugin"

Every hook is a collection hook: it takes no argument and returns a list of plain objects
(duck-typed; subclassing :class:`audioxai_bench.builtin.BaseExplainer` is optional). The plugin
manager (:mod:`audioxai_bench.plugins`) calls each plugin's hook on its own, validates every
object and records which plugin registered it. Names are lower-case with dashes or underscores
and unique across all plugins.
"""

from __future__ import annotations

from typing import Any

import pluggy

#: pluggy project name and entry-point group.
PROJECT = "audioxai_bench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def audioxai_bench_explainers() -> list[Any]:
    """Return explainers: relevance for a batch of model inputs.

    Each object has ``name: str``, ``representations`` (a set of ``"waveform"`` and/or
    ``"spectrogram"``) and ``explain(model, x, target) -> Tensor``, where ``x`` is a
    ``(B, 1, 8000)`` waveform or ``(B, 1, 227, 227)`` spectrogram batch and ``target`` a ``(B,)``
    tensor of class indices. The result has exactly ``x.shape`` and lies on ``x.device``; the
    model's parameters, gradients and train/eval mode are left as they were. Optional:
    ``display_name`` (human-readable), ``params`` (a dict, recorded with results) and
    ``with_params(**params)`` (a copy with parameters replaced, ``name`` included), which lets a
    benchmark YAML define variants. Built-ins: ``explainers_lrp``, ``explainers_captum`` and
    ``explainers_baseline`` in :mod:`audioxai_bench.builtin`.
    """


@hookspec
def audioxai_bench_sonifiers() -> list[Any]:
    """Return sonifiers: relevance turned into sound a person can listen to.

    Each object has ``name: str`` and ``sonify(waveform, relevance, representation) -> Tensor``:
    ``waveform`` is the ``(B, 8000)`` padded 8 kHz signal the model input came from,
    ``relevance`` has the model input's shape, and the result is a ``(B, 8000)`` waveform.
    Built-in: :mod:`audioxai_bench.builtin.sonifiers`; scored by
    :mod:`audioxai_bench.evaluation.sonification`.
    """


@hookspec
def audioxai_bench_metrics() -> list[Any]:
    """Return metrics: per-sample scores of explanations for a batch.

    Each object has ``name: str``, ``higher_is_better: bool`` and
    ``score(batch: EvalBatch) -> MetricOutput`` (per-sample scores, optional curves); optional
    ``representations`` and ``needs`` (the optional ``EvalBatch`` fields it reads). The contract
    is documented in :mod:`audioxai_bench.api.metric`. Built-ins: the ``metrics_*`` modules of
    :mod:`audioxai_bench.builtin`.
    """


@hookspec
def audioxai_bench_models() -> list[Any]:
    """Return model specs (optional for plugins).

    Each object has ``name: str``, ``representation`` (``"waveform"`` or ``"spectrogram"``),
    ``input_shape`` (without the batch dimension) and ``build(n_classes, width) -> nn.Module``.
    Built-in: :mod:`audioxai_bench.builtin.models`.
    """
